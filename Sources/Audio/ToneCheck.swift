import DoorbellCore
import Foundation
import Synchronization

/// `porchlightctl hw audio`: plays a test tone on the speaker for a while and measures the
/// microphone's level every frame, so the owner hears the speaker and sees the meter move when
/// speaking (hardware/bring-up.md). Runs on the audio device's thread like `DoorAudio`.
public final class ToneCheck: AudioFrameProcessor {
    let frequency: Double
    let amplitude: Double
    let toneFrames: Int
    private let state = Mutex<(played: Int, levels: [Double], failure: String?)>((0, [], nil))

    /// `tone`: how long the tone plays; `volume`: 0–100 % of full scale.
    public init(frequency: Double = 1000, volume: Int = 30, tone: Duration = .seconds(2)) {
        self.frequency = frequency
        amplitude = Double(Int16.max) * Double(min(max(volume, 0), 100)) / 100
        toneFrames = Int(tone / .milliseconds(20))
    }

    public var demand: AudioDemand { .duplex }

    public func nextPlayback() -> [Int16] {
        let index = state.withLock { state -> Int in
            defer { state.played += 1 }
            return state.played
        }
        guard index < toneFrames else { return [Int16](repeating: 0, count: AudioFormat.frameSamples) }
        let start = index * AudioFormat.frameSamples
        return (0..<AudioFormat.frameSamples).map { sample in
            Int16(amplitude * sin(2 * Double.pi * frequency * Double(start + sample) / Double(AudioFormat.sampleRate)))
        }
    }

    public func captured(_ frame: [Int16], reference: [Int16]) {
        let level = Self.level(frame)
        state.withLock { $0.levels.append(level) }
    }

    public func deviceFailed(_ reason: String) {
        state.withLock { $0.failure = reason }
    }

    /// The levels measured so far (dBFS, one per 20 ms frame), and the failure if the device failed.
    public var measured: (levels: [Double], failure: String?) { state.withLock { ($0.levels, $0.failure) } }

    /// RMS level in dBFS; −96 for silence.
    public static func level(_ frame: [Int16]) -> Double {
        let rms = DoorAudio.rms(frame) / Double(Int16.max)
        return rms > 0 ? max(-96, 20 * log10(rms)) : -96
    }

    /// A 40-character meter from −60 to 0 dBFS, as the command prints it.
    public static func meter(_ level: Double) -> String {
        let filled = Int(((min(max(level, -60), 0) + 60) / 60 * 40).rounded())
        return String(repeating: "#", count: filled) + String(repeating: ".", count: 40 - filled)
    }
}

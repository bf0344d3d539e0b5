import CALSA
import DoorbellTestKit
import DoorbellCore
import Foundation
import Logging
import Synchronization
import Testing

@testable import Audio
@testable import LinuxAudio

/// The device thread and the door's audio through the real libasound, on file-backed PCMs.
@Suite(.serialized, .timeLimit(.minutes(10))) struct ALSAAudioDeviceTests {
    struct Rig {
        let files: ALSAFiles
        let audio: DoorAudio
        let device: ALSAAudioDevice
        let registry = HealthRegistry()
        let task: Task<Void, any Error>

        init(
            settings: DoorAudioSettings, capture: [Int16] = [], calls: ALSACalls = .real
        ) throws {
            files = try ALSAFiles(capture: capture)
            audio = DoorAudio(settings: settings, logger: Logger(label: "test.audio"))
            device = ALSAAudioDevice(
                settings: .init(
                    playbackDevice: files.playbackDevice, captureDevice: files.captureDevice,
                    retry: .milliseconds(50)...(.milliseconds(200))),
                processor: audio, health: registry.register("audio", deadline: .seconds(5)),
                logger: Logger(label: "test.alsa"), faults: FaultLimiter(interval: .seconds(60)), calls: calls)
            audio.attach(device)
            let device = device
            task = Task { try await device.run() }
        }

        var health: HealthState? { registry.snapshot().first?.state }

        func stop() async {
            task.cancel()
            _ = try? await task.value
        }
    }

    static func settings(chime: [Int16]? = nil) -> DoorAudioSettings {
        var settings = DoorAudioSettings()
        settings.chime = chime.map(Sound.init(samples:))
        settings.volume = 100
        return settings
    }

    /// A stereo WAV through the whole path: decoded, averaged to mono, played on ring, and found
    /// in the playback file sample for sample, followed only by the silence that pads its last frame.
    @Test func theChimeComesOutBitExact() async throws {
        let left = (0..<4000).map { Int16(truncatingIfNeeded: $0 * 37 - 70_000) }
        let right = (0..<4000).map { Int16(truncatingIfNeeded: $0 * -11 + 9000) }
        let file = NSTemporaryDirectory() + "chime-\(UUID().uuidString).wav"
        try Data(wav(channels: 2, rate: 16_000, bits: 16, data: le16(zip(left, right).flatMap { [$0, $1] })))
            .write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let expected = zip(left, right).map { Int16((Int($0) + Int($1)) / 2) }

        let rig = try Rig(settings: Self.settings(chime: try Sound(wavFile: file).samples))
        rig.audio.strike()
        #expect(
            await eventually(timeout: .seconds(30)) {
                rig.files.played.count >= expected.count && rig.audio.demand == .none
            })
        await rig.stop()
        let played = rig.files.played
        let frames = (expected.count + AudioFormat.frameSamples - 1) / AudioFormat.frameSamples
        #expect(played.count == frames * AudioFormat.frameSamples)
        let same = Array(played.prefix(expected.count)) == expected
        #expect(same, "the chime differs from the WAV's samples")
        #expect(played.dropFirst(expected.count).allSatisfy { $0 == 0 })
        #expect(rig.health == .ok)
    }

    /// An xrun injected on the third write is recovered with `snd_pcm_recover`, counted, and the
    /// frame is written again: nothing is lost.
    @Test func anXrunIsRecovered() async throws {
        let chime = (0..<3200).map { Int16($0 % 2000) }
        let writes = Atomic<Int>(0)
        var calls = ALSACalls.real
        let real = calls.writei
        calls.writei = { pcm, buffer, frames in
            writes.add(1, ordering: .relaxed).newValue == 3 ? -Int(EPIPE) : real(pcm, buffer, frames)
        }
        let rig = try Rig(settings: Self.settings(chime: chime), calls: calls)
        rig.audio.strike()
        #expect(
            await eventually(timeout: .seconds(30)) {
                rig.files.played.count >= chime.count && rig.audio.demand == .none
            })
        await rig.stop()
        #expect(rig.device.xruns == 1)
        let same = Array(rig.files.played.prefix(chime.count)) == chime
        #expect(same, "a frame was lost or changed around the xrun")
    }

    /// A device that cannot be opened degrades the audio with a message naming it and the call;
    /// the chime asked for meanwhile is dropped, not played late; once the device is back, the
    /// next chime plays.
    @Test func aMissingDeviceDegradesAndIsReopened() async throws {
        let failing = Atomic<Bool>(true)
        var calls = ALSACalls.real
        let realOpen = calls.open
        calls.open = { name, stream in failing.load(ordering: .relaxed) ? (nil, -ENODEV) : realOpen(name, stream) }
        let rig = try Rig(settings: Self.settings(chime: [Int16](repeating: 1000, count: 640)), calls: calls)
        rig.audio.strike()
        #expect(
            await eventually(timeout: .seconds(30)) {
                if case .degraded(let reason) = rig.health {
                    return reason.contains("\"\(rig.files.playbackDevice)\" (snd_pcm_open): No such device")
                }
                return false
            })
        #expect(await eventually(timeout: .seconds(30)) { rig.audio.demand == .none })
        failing.store(false, ordering: .relaxed)
        #expect(await eventually(timeout: .seconds(30)) { rig.health == .ok })
        #expect(rig.files.played.isEmpty)
        rig.audio.strike()
        #expect(await eventually(timeout: .seconds(30)) { rig.files.played.count >= 640 && rig.audio.demand == .none })
        await rig.stop()
        #expect(rig.files.played.prefix(640).allSatisfy { $0 == 1000 })
    }

    /// A known signal from the capture file arrives intact in a talk session's uplink (half
    /// duplex with noise suppression off: no processing touches the samples).
    @Test func capturedAudioArrivesIntact() async throws {
        let signal = (0..<16_000).map { Int16(truncatingIfNeeded: ($0 * 7919) % 20_000 - 10_000) }
        var settings = Self.settings()
        settings.halfDuplex = true
        settings.noiseSuppressionDB = 0
        let rig = try Rig(settings: settings, capture: signal)
        let uplink = try rig.audio.startTalk(id: "t1", by: "test")
        var received: [Int16] = []
        for await frame in uplink {
            received += frame
            if received.count >= signal.count { break }
        }
        rig.audio.stopTalk(id: "t1")
        await rig.stop()
        #expect(received.count == signal.count)
        let same = received == signal
        // A sound device paced by a real clock overruns when its reader is late (an xrun).
        #expect(same, "the captured signal changed on the way (\(rig.device.xruns) xruns recovered)")
    }

    /// The owner's frames, sent with up to 60 ms of jitter and 5 % loss, reach the playback file
    /// in order, with concealment where frames were lost, and the buffer stays bounded.
    @Test func downlinkWithJitterAndLoss() async throws {
        let rig = try Rig(settings: Self.settings())
        let uplink = try rig.audio.startTalk(id: "t2", by: "test")
        let drain = Task { for await _ in uplink {} }
        var random = SplitMix(seed: 7)
        var lost = Set<UInt32>()
        var schedule: [(at: Duration, sequence: UInt32)] = []
        for sequence in 0..<UInt32(150) {
            if random.next() % 100 < 5 {
                lost.insert(sequence)
                continue
            }
            schedule.append((.milliseconds(20 * Int(sequence) + Int(random.next() % 60)), sequence))
        }
        schedule.sort { $0.at < $1.at }
        let start = ContinuousClock.now
        var maxDepth = 0
        for (at, sequence) in schedule {
            try await Task.sleep(until: start + at)
            let samples = [Int16](repeating: Int16(sequence + 1), count: AudioFormat.frameSamples)
            rig.audio.receiveTalk(id: "t2", sequence: sequence, samples: samples)
            maxDepth = max(maxDepth, rig.audio.talkStatistics?.maxDepth ?? 0)
        }
        try await Task.sleep(for: .milliseconds(300))
        let stats = try #require(rig.audio.talkStatistics)
        rig.audio.stopTalk(id: "t2")
        drain.cancel()
        await rig.stop()
        #expect(stats.maxDepth <= 10, "the buffer held \(stats.maxDepth) frames")
        // Frames in the file: whole frames, each the constant the sender put in (or concealment).
        let played = rig.files.played
        var values: [Int16] = []
        for start in stride(from: 0, to: played.count - AudioFormat.frameSamples + 1, by: AudioFormat.frameSamples) {
            let slice = played[start..<start + AudioFormat.frameSamples]
            #expect(slice.allSatisfy { $0 == slice.first }, "a frame was torn")
            values.append(slice.first!)
        }
        let real = values.filter { $0 > 0 && Int($0) - 1 < 150 && !lost.contains(UInt32($0 - 1)) }
        // Concealment at half level may repeat a value; real frames are those at full value in order.
        var fullFrames: [Int16] = []
        for (index, value) in values.enumerated() where value > 0 {
            let previous = index > 0 ? values[index - 1] : 0
            if previous > 0 && value == previous / 2 { continue }
            fullFrames.append(value)
        }
        #expect(fullFrames == fullFrames.sorted(), "played out of order")
        #expect(real.count + stats.late >= 150 - lost.count - 1)
        #expect(stats.concealed >= lost.count - 1, "lost \(lost.count), concealed \(stats.concealed)")
        #expect(stats.late <= 3)
    }
}

func wav(channels: Int, rate: Int, bits: Int, data: [UInt8]) -> [UInt8] {
    wavBytes(channels: channels, rate: rate, bits: bits, data: data)
}

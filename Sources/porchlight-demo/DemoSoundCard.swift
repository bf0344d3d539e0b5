import Foundation

/// The demo's sound card: ALSA's own `file` plugin, so the real libasound path runs without
/// hardware. The door's speaker is a raw file (play it with
/// `aplay -f S16_LE -r 16000 -c 1 FILE`); its microphone is a synthetic visitor: two-note phrases
/// like speech rhythm, for a minute, so that talk on the web page has something to hear.
enum DemoSoundCard {
    static let directory = "/tmp/porchlight-demo-audio"
    static var speaker: String { directory + "/door-speaker.raw" }

    /// Writes the ALSA configuration and the microphone's signal; returns the path for the
    /// daemon's `ALSA_CONFIG_PATH`.
    static func prepare() throws -> String {
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = """
            # Written by porchlight-demo: the names config/demo.toml uses for the door's speaker and microphone.
            pcm.demo_speaker { type file; slave.pcm { type null }; file "\(speaker)"; format "raw" }
            pcm.demo_microphone { type file; slave.pcm { type null }; file "/dev/null"; infile "\(directory)/door-microphone.raw"; format "raw" }

            """
        try config.write(toFile: directory + "/asoundrc", atomically: true, encoding: .utf8)
        let rate = 16_000.0
        var samples = [Int16](repeating: 0, count: 60 * 16_000)
        for index in samples.indices {
            let t = Double(index) / rate
            let phrase = t.truncatingRemainder(dividingBy: 2.5)
            guard phrase < 1.2 else { continue }
            let note = phrase < 0.5 ? 392.0 : 330.0
            let syllable = sin(.pi * (phrase.truncatingRemainder(dividingBy: 0.3) / 0.3))
            samples[index] = Int16(6000 * syllable * sin(2 * .pi * note * t))
        }
        try samples.withUnsafeBufferPointer { Data(buffer: $0) }.write(
            to: URL(fileURLWithPath: directory + "/door-microphone.raw"))
        // The demo's quick reply (config/demo.toml names it): three falling notes, as a WAV.
        var reply: [Int16] = []
        for note in [523.25, 440.0, 349.23] {
            reply += (0..<4800).map { index in
                let t = Double(index) / rate
                return Int16(9000 * sin(.pi * t / 0.3) * sin(2 * .pi * note * t))
            }
        }
        try wav(reply).write(to: URL(fileURLWithPath: directory + "/leave-it.wav"))
        return directory + "/asoundrc"
    }

    /// A 16 kHz mono 16-bit WAV.
    static func wav(_ samples: [Int16]) -> Data {
        func le(_ value: Int, _ count: Int) -> [UInt8] { (0..<count).map { UInt8((value >> (8 * $0)) & 0xFF) } }
        let data = samples.flatMap { le(Int($0), 2) }
        let fmt = le(1, 2) + le(1, 2) + le(16_000, 4) + le(32_000, 4) + le(2, 2) + le(16, 2)
        let body = Array("WAVEfmt ".utf8) + le(16, 4) + fmt + Array("data".utf8) + le(data.count, 4) + data
        return Data(Array("RIFF".utf8) + le(body.count, 4) + body)
    }
}

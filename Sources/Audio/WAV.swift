import DoorbellCore
import Foundation

/// A sound for the door, decoded from a WAV file and converted to the daemon's format (16 kHz
/// mono S16). Integer PCM of 8, 16, 24 or 32 bits and 32- or 64-bit float convert; compressed
/// formats (μ-law, A-law, ADPCM, MP3 in a WAV) do not, and say so, so that `check-config`
/// catches a bad quick reply before the owner picks it at the door.
public struct Sound: Sendable, Equatable {
    public var samples: [Int16]

    public init(samples: [Int16]) {
        self.samples = samples
    }

    /// The longest sound the door plays; longer recordings are refused rather than tying up the
    /// speaker.
    public static let maxDuration = 60

    public var duration: Duration { .milliseconds(samples.count * 1000 / AudioFormat.sampleRate) }

    /// Reads and converts a WAV file. Channels are averaged; other rates are resampled.
    public init(wavFile path: String) throws(SoundError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SoundError(path: path, problem: "cannot be read (missing, or not readable by this user)")
        }
        do {
            self = try Self.decode(Array(data))
        } catch {
            throw SoundError(path: path, problem: error.text)
        }
    }

    /// Decodes WAV bytes from anywhere (a file, the fuzzer).
    public init(wavBytes bytes: [UInt8]) throws(SoundError) {
        do {
            self = try Self.decode(bytes)
        } catch {
            throw SoundError(path: "(bytes)", problem: error.text)
        }
    }

    /// Decodes WAV bytes; `Problem` says what is wrong, without the path.
    static func decode(_ bytes: [UInt8]) throws(SoundError.Problem) -> Sound {
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func tag(_ at: Int) -> String { String(decoding: bytes[at..<at + 4], as: UTF8.self) }
        guard bytes.count >= 12, tag(0) == "RIFF", tag(8) == "WAVE" else {
            throw .init("is not a WAV file (no RIFF/WAVE header)")
        }
        var format: (code: Int, channels: Int, rate: Int, block: Int, bits: Int)?
        var data: ArraySlice<UInt8>?
        var at = 12
        while at + 8 <= bytes.count {
            let size = u32(at + 4)
            let body = at + 8
            let end = min(body + size, bytes.count)
            switch tag(at) {
            case "fmt ":
                guard size >= 16, end - body >= 16 else { throw .init("has a truncated fmt chunk") }
                var code = u16(body)
                if code == 0xFFFE, size >= 40, end - body >= 40 { code = u16(body + 24) }
                format = (code, u16(body + 2), u32(body + 4), u16(body + 12), u16(body + 14))
            case "data":
                // Streaming writers leave the size at its maximum; take what is there.
                data = bytes[body..<end]
            default: break
            }
            at = body + size + (size & 1)
        }
        guard let format else { throw .init("has no fmt chunk") }
        guard let data else { throw .init("has no data chunk") }
        let names = [6: "A-law", 7: "μ-law", 2: "MS ADPCM", 0x11: "IMA ADPCM", 0x55: "MP3"]
        switch (format.code, format.bits) {
        case (1, 8), (1, 16), (1, 24), (1, 32), (3, 32), (3, 64): break
        case (1, _), (3, _):
            throw .init("uses \(format.bits)-bit samples; convert it to 16-bit PCM (e.g. `sox in.wav -b 16 out.wav`)")
        default:
            let name = names[format.code].map { "\($0) (format \(format.code))" } ?? "format \(format.code)"
            throw .init("is compressed as \(name), which cannot be converted; save it as 16-bit PCM")
        }
        guard (1...8).contains(format.channels) else { throw .init("has \(format.channels) channels; expected 1 to 8") }
        guard (8000...192_000).contains(format.rate) else {
            throw .init("has a sample rate of \(format.rate) Hz; expected 8,000 to 192,000")
        }
        let width = format.bits / 8
        guard format.block == width * format.channels else { throw .init("has an inconsistent block size") }
        let frames = data.count / format.block
        guard frames > 0 else { throw .init("holds no samples") }
        guard frames / format.rate <= maxDuration else {
            throw .init("lasts \(frames / format.rate) s; a door sound may last at most \(maxDuration) s")
        }
        var mono = [Int16](repeating: 0, count: frames)
        let base = data.startIndex
        for frame in 0..<frames {
            var sum = 0
            for channel in 0..<format.channels {
                let at = base + frame * format.block + channel * width
                sum += sample(bytes, at: at, bits: format.bits, float: format.code == 3)
            }
            mono[frame] = Int16(sum / format.channels)
        }
        if format.rate == AudioFormat.sampleRate { return Sound(samples: mono) }
        switch Resampler.convert(mono, from: format.rate, to: AudioFormat.sampleRate) {
        case .success(let samples): return Sound(samples: samples)
        case .failure(let error): throw .init("cannot be resampled to 16 kHz: \(error.reason)")
        }
    }

    /// One sample as a 16-bit value: 8-bit is unsigned, wider integers keep their top 16 bits,
    /// floats are scaled and clamped.
    static func sample(_ bytes: [UInt8], at: Int, bits: Int, float: Bool) -> Int {
        var raw: UInt64 = 0
        for index in 0..<bits / 8 { raw |= UInt64(bytes[at + index]) << (8 * index) }
        if float {
            let value = bits == 32 ? Double(Float(bitPattern: UInt32(raw))) : Double(bitPattern: raw)
            return Int(max(-32768, min(32767, (value * 32768).rounded())))
        }
        switch bits {
        case 8: return (Int(raw) - 128) << 8
        case 16: return Int(Int16(bitPattern: UInt16(raw)))
        case 24: return Int(Int32(bitPattern: UInt32(raw) << 8) >> 16)
        default: return Int(Int32(bitPattern: UInt32(raw)) >> 16)
        }
    }

    /// The built-in chime: a two-note ding-dong (E5 then C5) with bell-like decay, 1.4 s.
    public static let builtinChime: Sound = {
        let rate = Double(AudioFormat.sampleRate)
        var samples = [Int16](repeating: 0, count: Int(1.4 * rate))
        for (frequency, start) in [(659.25, 0.0), (523.25, 0.55)] {
            for index in Int(start * rate)..<samples.count {
                let t = Double(index) / rate - start
                let envelope = exp(-t * 3.2) * min(1, t / 0.005)
                let tone = sin(2 * .pi * frequency * t) + 0.35 * sin(2 * .pi * 2 * frequency * t)
                let mixed = Double(samples[index]) + 12_000 * envelope * tone
                samples[index] = Int16(max(-32768, min(32767, mixed.rounded())))
            }
        }
        return Sound(samples: samples)
    }()
}

/// A WAV that cannot be played at the door: which file, and what is wrong with it.
public struct SoundError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var problem: String
    public var description: String { "\(path) \(problem)" }

    struct Problem: Error {
        var text: String
        init(_ text: String) { self.text = text }
    }
}

import DoorbellCore
import DoorbellTestKit
import Foundation
import Testing

@testable import Audio

/// A WAV with an extra chunk before the data, which the decoder must skip.
func wav(format: Int = 1, channels: Int, rate: Int, bits: Int, data: [UInt8]) -> [UInt8] {
    wavBytes(format: format, channels: channels, rate: rate, bits: bits, data: data, extraChunk: true)
}

@Suite(.timeLimit(.minutes(10))) struct WAVTests {
    @Test func sixteenBitMonoPassesThroughUnchanged() throws {
        let samples: [Int16] = [0, 1, -1, 32767, -32768, 1234]
        let sound = try Sound.decode(wav(channels: 1, rate: 16_000, bits: 16, data: le16(samples)))
        #expect(sound.samples == samples)
    }

    @Test func stereoIsAveragedAndEightBitIsRecentred() throws {
        let left: [Int16] = [100, -200, 32767, -32768]
        let right: [Int16] = [300, -201, 32767, 32767]
        let interleaved = zip(left, right).flatMap { [$0, $1] }
        let stereo = try Sound.decode(wav(channels: 2, rate: 16_000, bits: 16, data: le16(interleaved)))
        #expect(stereo.samples == zip(left, right).map { Int16((Int($0) + Int($1)) / 2) })

        let unsigned: [UInt8] = [0, 128, 255, 64]
        let eight = try Sound.decode(wav(channels: 1, rate: 16_000, bits: 8, data: unsigned))
        #expect(eight.samples == [-32768, 0, 32512, -16384])
    }

    @Test func twentyFourBitAndFloatKeepTheirTopBits() throws {
        // 0x123456 → 0x1234; −1 (0xFFFFFF) → −1; float 0.5 → 16384, −1.0 → −32768, 2.0 clamps.
        let s24 = try Sound.decode(
            wav(channels: 1, rate: 16_000, bits: 24, data: [0x56, 0x34, 0x12, 0xFF, 0xFF, 0xFF]))
        #expect(s24.samples == [0x1234, -1])
        let floats: [Float] = [0.5, -1.0, 2.0]
        let bytes = floats.flatMap { value in (0..<4).map { UInt8((value.bitPattern >> (8 * $0)) & 0xFF) } }
        let f32 = try Sound.decode(wav(format: 3, channels: 1, rate: 16_000, bits: 32, data: bytes))
        #expect(f32.samples == [16384, -32768, 32767])
    }

    @Test func otherRatesAreResampledToSixteenKilohertz() throws {
        // One second of 1 kHz at 48 kHz: one second at 16 kHz, still 1 kHz (counted by zero crossings).
        let tone = (0..<48_000).map { Int16(10_000 * sin(2 * Double.pi * 1000 * Double($0) / 48_000)) }
        let sound = try Sound.decode(wav(channels: 1, rate: 48_000, bits: 16, data: le16(tone)))
        #expect(sound.samples.count == 16_000)
        let middle = sound.samples[1000..<15_000]
        let crossings = zip(middle, middle.dropFirst()).filter { ($0 < 0) != ($1 < 0) }.count
        // 14,000 samples at 16 kHz hold 875 periods of 1 kHz, so 1,750 sign changes.
        #expect(abs(crossings - 1750) <= 2, "crossings: \(crossings)")
        let peak = middle.map { abs(Int($0)) }.max() ?? 0
        #expect((9000...11_000).contains(peak), "peak: \(peak)")
    }

    @Test func formatsThatCannotBeConvertedSaySo() throws {
        func problem(_ bytes: [UInt8]) -> String {
            do {
                _ = try Sound.decode(bytes)
                return "decoded"
            } catch { return error.text }
        }
        #expect(problem(wav(format: 7, channels: 1, rate: 8000, bits: 8, data: [1, 2])).contains("μ-law"))
        #expect(problem(wav(format: 0x11, channels: 1, rate: 8000, bits: 4, data: [1, 2])).contains("IMA ADPCM"))
        #expect(problem(wav(channels: 1, rate: 16_000, bits: 12, data: [1, 2])).contains("12-bit"))
        #expect(problem(Array("hello, not a wav".utf8)).contains("not a WAV file"))
        #expect(problem(wav(channels: 1, rate: 16_000, bits: 16, data: [])).contains("no samples"))
        #expect(problem(wav(channels: 1, rate: 4000, bits: 16, data: [0, 0])).contains("4000 Hz"))
        let long = [UInt8](repeating: 0, count: 2 * 8000 * 61)
        #expect(problem(wav(channels: 1, rate: 8000, bits: 16, data: long)).contains("at most 60 s"))
    }

    @Test func aMissingFileNamesItsPath() {
        #expect(throws: SoundError.self) { try Sound(wavFile: "/nonexistent/reply.wav") }
        do {
            _ = try Sound(wavFile: "/nonexistent/reply.wav")
        } catch {
            #expect(error.description.hasPrefix("/nonexistent/reply.wav cannot be read"))
        }
    }

    @Test func theBuiltinChimeIsAudibleAndDoesNotClip() {
        let chime = Sound.builtinChime.samples
        #expect(chime.count == 22_400)
        let peak = chime.map { abs(Int($0)) }.max() ?? 0
        #expect(peak > 8000 && peak < 32767)
    }
}

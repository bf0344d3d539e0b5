import Foundation

/// Signals for measuring an echo canceller: speech-like far-end and near-end talkers, and a
/// doorbell's echo path (the speaker a few centimetres from the microphone): a delay, a decaying
/// room response, and microphone noise. Deterministic, so a test and the benchmark measure the
/// same thing.
public struct EchoScenario: Sendable {
    public let sampleRate = 16_000
    /// What the speaker plays (the owner's voice).
    public var farEnd: [Int16]
    /// The visitor speaking, silent except during the double-talk span.
    public var nearEnd: [Int16]
    /// What the microphone hears: the echo of `farEnd`, noise and `nearEnd`.
    public var microphone: [Int16]
    public var doubleTalk: Range<Int>

    /// `seconds` of signal; the visitor speaks during `doubleTalk` (in seconds).
    public init(seconds: Int = 12, doubleTalk: Range<Double> = 8.0..<10.0, delayMilliseconds: Int = 6) {
        let count = seconds * sampleRate
        var random = SplitMix(seed: 0x5EED)
        farEnd = Self.speech(count: count, random: &random, syllableHz: 4.0, level: 6000)
        let start = Int(doubleTalk.lowerBound * Double(sampleRate))
        let end = Int(doubleTalk.upperBound * Double(sampleRate))
        self.doubleTalk = start..<end
        var near = [Int16](repeating: 0, count: count)
        let voice = Self.speech(count: end - start, random: &random, syllableHz: 3.1, level: 4000, cutoff: 0.25)
        for index in start..<end { near[index] = voice[index - start] }
        nearEnd = near
        // The echo path: delay, then 60 ms of exponentially decaying reflections; gain about −6 dB.
        let delay = delayMilliseconds * sampleRate / 1000
        let taps = 60 * sampleRate / 1000
        var response = [Double](repeating: 0, count: delay + taps)
        response[delay] = 0.45
        for tap in 1..<taps {
            response[delay + tap] = random.symmetric() * 0.25 * exp(-Double(tap) / Double(sampleRate) * 120)
        }
        // Through buffer pointers over the taps that are not zero: the same sums, but a debug
        // build (the tests') does them in about a second instead of a minute.
        let weights = response.enumerated().filter { $0.element != 0 }
        let lags = weights.map(\.offset)
        let gains = weights.map(\.element)
        let far = farEnd.map(Double.init)
        var mic = [Int16](repeating: 0, count: count)
        lags.withUnsafeBufferPointer { lags in
            gains.withUnsafeBufferPointer { gains in
                far.withUnsafeBufferPointer { far in
                    for index in 0..<count {
                        var sum = 0.0
                        var tap = 0
                        while tap < lags.count, lags[tap] <= index {
                            sum += gains[tap] * far[index - lags[tap]]
                            tap += 1
                        }
                        sum += random.symmetric() * 10 + Double(near[index])
                        mic[index] = Int16(max(-32768, min(32767, sum.rounded())))
                    }
                }
            }
        }
        microphone = mic
    }

    /// Noise shaped like speech: low-passed, and switched on and off at a syllable rate.
    static func speech(count: Int, random: inout SplitMix, syllableHz: Double, level: Double, cutoff: Double = 0.15)
        -> [Int16]
    {
        var out = [Int16](repeating: 0, count: count)
        var low = 0.0
        var band = 0.0
        for index in 0..<count {
            let white = random.symmetric()
            low += cutoff * (white - low)
            band += 0.5 * (low - band)
            let t = Double(index) / 16_000
            let phase = (t * syllableHz).truncatingRemainder(dividingBy: 1)
            let envelope = phase < 0.7 ? sin(.pi * phase / 0.7) : 0
            out[index] = Int16(max(-32768, min(32767, (low - band * 0.5) * level * 3 * envelope)))
        }
        return out
    }

    /// 10·log10 of the energy ratio of two signals over a range.
    public static func decibels(_ numerator: [Int16], over denominator: [Int16], in range: Range<Int>) -> Double {
        var a = 0.0
        var b = 0.0
        for index in range {
            a += Double(numerator[index]) * Double(numerator[index])
            b += Double(denominator[index]) * Double(denominator[index])
        }
        return 10 * log10(a / max(b, 1))
    }
}

/// A small deterministic generator (SplitMix64).
public struct SplitMix: Sendable {
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in −1…1.
    public mutating func symmetric() -> Double { Double(next() >> 11) / Double(1 << 52) - 1 }
}

import DoorbellCore
import DoorbellTestKit
import Testing

@testable import Audio

/// The echo canceller on a simulated doorbell echo path (docs: DoorbellTestKit.EchoScenario).
@Suite(.timeLimit(.minutes(10))) struct EchoCancellerTests {
    /// Built once, off the cooperative pool (``offThePool``): the scenario and the canceller's
    /// run take seconds in a debug build.
    static let scenario = EchoScenario()
    static let output = run(scenario)

    static func prepared() async -> (EchoScenario, [Int16]) { await offThePool { (scenario, output) } }

    static func run(_ scenario: EchoScenario) -> [Int16] {
        let canceller = EchoCanceller(tail: .milliseconds(200), noiseSuppressionDB: -25)
        var output: [Int16] = []
        let frame = AudioFormat.frameSamples
        for start in stride(from: 0, to: scenario.microphone.count - frame + 1, by: frame) {
            output += canceller.process(
                captured: Array(scenario.microphone[start..<start + frame]),
                played: Array(scenario.farEnd[start..<start + frame]))
        }
        return output
    }

    /// ERLE = 10·log10(E[d²]/E[e²]) with the far end alone, after 4 s of convergence.
    @Test func echoReturnLossEnhancementIsAtLeast25dB() async {
        let (scenario, output) = await Self.prepared()
        let span = 4 * 16_000..<scenario.doubleTalk.lowerBound
        let erle = EchoScenario.decibels(scenario.microphone, over: output, in: span)
        #expect(erle >= 25, "ERLE \(erle) dB")
    }

    /// During double talk the visitor's voice must come through: the output keeps most of the
    /// near end's energy, and follows it (it is not just leftover echo). The preprocessor's
    /// overlap-add delays its output by one frame, so the best lag up to two frames is used.
    @Test func nearEndSpeechSurvivesDoubleTalk() async {
        let (scenario, output) = await Self.prepared()
        let span = scenario.doubleTalk
        let kept = EchoScenario.decibels(output, over: scenario.nearEnd, in: span)
        #expect(kept > -10, "near end kept at \(kept) dB")
        let best = await offThePool { Self.bestLag(of: output, against: scenario.nearEnd, in: span) }
        #expect(best.correlation > 0.6, "correlation with the near end \(best.correlation) at lag \(best.lag)")
    }

    /// The lag up to two frames at which `output` follows `near` best, and that correlation.
    static func bestLag(of output: [Int16], against near: [Int16], in span: Range<Int>) -> (
        lag: Int, correlation: Double
    ) {
        var best = (lag: 0, correlation: -1.0)
        for lag in 0..<2 * AudioFormat.frameSamples {
            var cross = 0.0
            var a = 0.0
            var b = 0.0
            for index in span.lowerBound..<span.upperBound - lag {
                let out = Double(output[index + lag])
                let voice = Double(near[index])
                cross += out * voice
                a += out * out
                b += voice * voice
            }
            let correlation = cross / (a * b).squareRoot()
            if correlation > best.correlation { best = (lag, correlation) }
        }
        return best
    }
}

import CSpeexDSP
import DoorbellCore

/// The door's microphone path: speexdsp's adaptive echo canceller, fed with exactly the frames
/// that went to the speaker, then its preprocessor for noise suppression and for the residual
/// echo the adaptive filter leaves. Owned by the audio thread; one frame at a time.
public final class EchoCanceller {
    private let echo: OpaquePointer
    private let preprocess: OpaquePointer
    private var output = [Int16](repeating: 0, count: AudioFormat.frameSamples)
    private let preprocessing: Bool

    /// `tail`: the longest echo removed (the speaker-to-microphone path plus room reverberation).
    /// `noiseSuppressionDB`: 0 turns noise suppression off; residual echo suppression stays on.
    /// `preprocessing` false leaves the adaptive filter alone (for measuring it).
    public init(tail: Duration, noiseSuppressionDB: Int, preprocessing: Bool = true) {
        self.preprocessing = preprocessing
        let frame = Int32(AudioFormat.frameSamples)
        var rate = Int32(AudioFormat.sampleRate)
        let tailSamples = Int32(tail / .milliseconds(1)) * rate / 1000
        echo = speex_echo_state_init(frame, tailSamples)
        speex_echo_ctl(echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate)
        preprocess = speex_preprocess_state_init(frame, rate)
        var on: Int32 = noiseSuppressionDB < 0 ? 1 : 0
        speex_preprocess_ctl(preprocess, SPEEX_PREPROCESS_SET_DENOISE, &on)
        var suppress = Int32(noiseSuppressionDB)
        speex_preprocess_ctl(preprocess, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &suppress)
        speex_preprocess_ctl(preprocess, SPEEX_PREPROCESS_SET_ECHO_STATE, UnsafeMutableRawPointer(echo))
    }

    deinit {
        speex_preprocess_state_destroy(preprocess)
        speex_echo_state_destroy(echo)
    }

    /// The captured frame with the echo of `played` (the frame sent to the speaker at the same
    /// tick; the filter finds the delay within its tail) removed.
    public func process(captured: [Int16], played: [Int16]) -> [Int16] {
        precondition(captured.count == AudioFormat.frameSamples && played.count == AudioFormat.frameSamples)
        captured.withUnsafeBufferPointer { near in
            played.withUnsafeBufferPointer { far in
                output.withUnsafeMutableBufferPointer { out in
                    speex_echo_cancellation(echo, near.baseAddress, far.baseAddress, out.baseAddress)
                    if preprocessing { _ = speex_preprocess_run(preprocess, out.baseAddress) }
                }
            }
        }
        return output
    }
}

/// Noise suppression alone, for the microphone when nothing plays (half duplex, clip audio).
public final class NoiseSuppressor {
    private let state: OpaquePointer?

    /// `nil` work when `db` is 0: the frame passes through untouched.
    public init(db: Int) {
        guard db < 0 else {
            state = nil
            return
        }
        let pre = speex_preprocess_state_init(Int32(AudioFormat.frameSamples), Int32(AudioFormat.sampleRate))
        var on: Int32 = 1
        speex_preprocess_ctl(pre, SPEEX_PREPROCESS_SET_DENOISE, &on)
        var suppress = Int32(db)
        speex_preprocess_ctl(pre, SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, &suppress)
        state = pre
    }

    deinit {
        if let state { speex_preprocess_state_destroy(state) }
    }

    public func process(_ frame: [Int16]) -> [Int16] {
        guard let state else { return frame }
        var copy = frame
        _ = copy.withUnsafeMutableBufferPointer { speex_preprocess_run(state, $0.baseAddress) }
        return copy
    }
}

import CSpeexDSP

/// Sample-rate conversion with speexdsp's resampler, for door sounds recorded at other rates.
public enum Resampler {
    /// Converts a whole sound, flushing the resampler's delay line so that nothing is cut off;
    /// a failure with speexdsp's reason when the resampler cannot be made.
    public static func convert(_ input: [Int16], from inRate: Int, to outRate: Int, quality: Int32 = 6)
        -> Result<[Int16], ResampleError>
    {
        var error: Int32 = 0
        guard let state = speex_resampler_init(1, UInt32(inRate), UInt32(outRate), quality, &error) else {
            return .failure(ResampleError(reason: String(cString: speex_resampler_strerror(error))))
        }
        defer { speex_resampler_destroy(state) }
        speex_resampler_skip_zeros(state)
        let latency = Int(speex_resampler_get_input_latency(state))
        let padded = input + [Int16](repeating: 0, count: latency)
        let expected = input.count * outRate / inRate
        var output = [Int16](repeating: 0, count: expected + 64)
        var inLength = UInt32(padded.count)
        var outLength = UInt32(output.count)
        padded.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                _ = speex_resampler_process_int(
                    state, 0, source.baseAddress, &inLength, target.baseAddress, &outLength)
            }
        }
        return .success(Array(output.prefix(min(Int(outLength), expected))))
    }
}

public struct ResampleError: Error, Sendable {
    public var reason: String
}

internal import CTurboJPEG

/// A small JPEG of a (masked) frame for notifications: scaled inside the IDCT by 1/2, 1/4 or 1/8
/// to the first size at most `maxWidth` wide, so the full-size picture is never decoded, then
/// encoded again. The masks are already in the frame's coefficients, so they are in the
/// thumbnail too.
public final class JPEGThumbnailer {
    private let decoder: JPEGDecoder
    private let compressor: tjhandle

    /// The corresponding C functions are `tjInitDecompress` and `tjInitCompress`.
    public init() throws(JPEGError) {
        decoder = try JPEGDecoder()
        guard let handle = tjInitCompress() else {
            throw JPEGError(action: "create a JPEG compressor", reason: String(cString: tjGetErrorStr2(nil)))
        }
        compressor = handle
    }

    deinit { tjDestroy(compressor) }

    /// `jpeg` at most `maxWidth` wide (a frame already that small is scaled by one), as a 4:2:0
    /// JPEG of `quality`.
    public func thumbnail(_ jpeg: [UInt8], maxWidth: Int = 320, quality: Int = 60) throws(JPEGError) -> [UInt8] {
        let (width, _) = try decoder.size(of: jpeg)
        let denominator = [1, 2, 4, 8].first { (width + $0 - 1) / $0 <= maxWidth } ?? 8
        let (scaledWidth, scaledHeight, rgb) = try decoder.decodeRGB(jpeg, denominator: denominator)
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let result = rgb.withUnsafeBufferPointer { source in
            tjCompress2(
                compressor, source.baseAddress, Int32(scaledWidth), Int32(scaledWidth * 3), Int32(scaledHeight),
                Int32(TJPF_RGB.rawValue), &output, &size, Int32(TJSAMP_420.rawValue), Int32(quality),
                Int32(TJFLAG_FASTDCT))
        }
        defer { tjFree(output) }
        guard result == 0, let output else {
            throw JPEGError(action: "encode a thumbnail", reason: String(cString: tjGetErrorStr2(compressor)))
        }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }
}

internal import CTurboJPEG
import Motion

/// Packed YUYV (4:2:2, `Y0 U Y1 V`), as webcams without MJPEG and the vivid test driver give it.
public enum YUYV {
    /// Blacks out the masked blocks in place: luma 0, chroma neutral for every pixel pair that
    /// touches a masked pixel. Done before any other code sees the frame.
    public static func applyMask(_ mask: PrivacyMask, to bytes: inout [UInt8], width: Int, height: Int) {
        precondition(mask.frameWidth == width && mask.frameHeight == height && bytes.count >= width * height * 2)
        for y in 0..<height {
            let row = y * width * 2
            var x = 0
            while x + 1 < width {
                if mask.covers(x: x, y: y) || mask.covers(x: x + 1, y: y) {
                    let offset = row + x * 2
                    bytes[offset] = 0
                    bytes[offset + 1] = 128
                    bytes[offset + 2] = 0
                    bytes[offset + 3] = 128
                }
                x += 2
            }
        }
    }

    /// The motion plane: every `step`-th luma sample of every `step`-th row (the DESIGN's "subsample
    /// of Y"), with `step` the largest of 8, 4, 2, 1 that still gives `rows` rows.
    public static func greyPlane(_ bytes: [UInt8], width: Int, height: Int, rows: Int) -> GreyPlane {
        let step = [8, 4, 2].first { height / $0 >= rows } ?? 1
        let planeWidth = width / step
        let planeHeight = height / step
        var pixels = [UInt8](repeating: 0, count: planeWidth * planeHeight)
        for y in 0..<planeHeight {
            let source = y * step * width * 2
            for x in 0..<planeWidth { pixels[y * planeWidth + x] = bytes[source + x * step * 2] }
        }
        return GreyPlane(width: planeWidth, height: planeHeight, pixels: pixels)
    }
}

/// Encodes JPEGs with libturbojpeg, for frames that do not arrive as JPEG. One instance serves
/// one task at a time.
public final class JPEGEncoder {
    private let handle: tjhandle

    /// The corresponding C function is `tjInitCompress`; the handle is freed with `tjDestroy`.
    public init() throws(JPEGError) {
        guard let handle = tjInitCompress() else {
            throw JPEGError(action: "create a JPEG compressor", reason: String(cString: tjGetErrorStr2(nil)))
        }
        self.handle = handle
    }

    deinit { tjDestroy(handle) }

    /// A 4:2:2 JPEG of a YUYV frame, without a round trip through RGB
    /// (`tjCompressFromYUVPlanes` on the de-interleaved planes).
    public func encodeYUYV(_ bytes: [UInt8], width: Int, height: Int, quality: Int) throws(JPEGError) -> [UInt8] {
        let chromaWidth = (width + 1) / 2
        var luma = [UInt8](repeating: 0, count: width * height)
        var blue = [UInt8](repeating: 128, count: chromaWidth * height)
        var red = [UInt8](repeating: 128, count: chromaWidth * height)
        for y in 0..<height {
            for pair in 0..<(width / 2) {
                let source = (y * width + pair * 2) * 2
                luma[y * width + pair * 2] = bytes[source]
                blue[y * chromaWidth + pair] = bytes[source + 1]
                luma[y * width + pair * 2 + 1] = bytes[source + 2]
                red[y * chromaWidth + pair] = bytes[source + 3]
            }
        }
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let result = luma.withUnsafeBufferPointer { y in
            blue.withUnsafeBufferPointer { u in
                red.withUnsafeBufferPointer { v in
                    var planes: [UnsafePointer<UInt8>?] = [y.baseAddress, u.baseAddress, v.baseAddress]
                    var strides: [Int32] = [Int32(width), Int32(chromaWidth), Int32(chromaWidth)]
                    return tjCompressFromYUVPlanes(
                        handle, &planes, Int32(width), &strides, Int32(height), Int32(TJSAMP_422.rawValue), &output,
                        &size, Int32(quality), Int32(TJFLAG_FASTDCT))
                }
            }
        }
        defer { tjFree(output) }
        guard result == 0, let output else {
            throw JPEGError(action: "encode a JPEG", reason: String(cString: tjGetErrorStr2(handle)))
        }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }
}

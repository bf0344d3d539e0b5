internal import CTurboJPEG
import Motion

/// A JPEG that libturbojpeg could not read, with its reason.
public struct JPEGError: Error, Sendable, CustomStringConvertible {
    public var action: String
    public var reason: String
    public var description: String { "cannot \(action): \(reason)" }
}

/// Decodes JPEGs with libturbojpeg. Holds a decompressor handle, so one instance serves one
/// task at a time (it is deliberately not Sendable).
public final class JPEGDecoder {
    private let handle: tjhandle

    /// The corresponding C function is `tjInitDecompress`; the handle is freed with `tjDestroy`.
    public init() throws(JPEGError) {
        guard let handle = tjInitDecompress() else {
            throw JPEGError(action: "create a JPEG decompressor", reason: String(cString: tjGetErrorStr2(nil)))
        }
        self.handle = handle
    }

    deinit { tjDestroy(handle) }

    /// Width and height from the JPEG header (`tjDecompressHeader3`).
    public func size(of jpeg: [UInt8]) throws(JPEGError) -> (width: Int, height: Int) {
        var width: Int32 = 0
        var height: Int32 = 0
        var subsampling: Int32 = 0
        var colorspace: Int32 = 0
        let result = jpeg.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &width, &height, &subsampling, &colorspace)
        }
        guard result == 0 else { throw error("read a JPEG header") }
        return (Int(width), Int(height))
    }

    /// The luma of `jpeg`, scaled by 1/`denominator` (1, 2, 4 or 8) inside the IDCT, which is
    /// what makes the motion plane cheap: at 1/8 only the DC coefficients are used. The
    /// corresponding C function is `tjDecompress2` with `TJPF_GRAY`.
    public func decodeGrey(_ jpeg: [UInt8], denominator: Int) throws(JPEGError) -> GreyPlane {
        let (width, height) = try size(of: jpeg)
        let scaledWidth = (width + denominator - 1) / denominator
        let scaledHeight = (height + denominator - 1) / denominator
        var plane = GreyPlane(width: scaledWidth, height: scaledHeight)
        let result = jpeg.withUnsafeBufferPointer { source in
            plane.pixels.withUnsafeMutableBufferPointer { target in
                tjDecompress2(
                    handle, source.baseAddress, UInt(source.count), target.baseAddress, Int32(scaledWidth),
                    Int32(scaledWidth), Int32(scaledHeight), Int32(TJPF_GRAY.rawValue),
                    Int32(TJFLAG_FASTDCT | TJFLAG_FASTUPSAMPLE))
            }
        }
        guard result == 0 else { throw error("decode a JPEG") }
        return plane
    }

    /// The picture as packed RGB bytes, scaled by 1/`denominator` (1, 2, 4 or 8) inside the
    /// IDCT (`tjDecompress2` with `TJPF_RGB`).
    public func decodeRGB(_ jpeg: [UInt8], denominator: Int = 1) throws(JPEGError) -> (
        width: Int, height: Int, rgb: [UInt8]
    ) {
        let (fullWidth, fullHeight) = try size(of: jpeg)
        let width = (fullWidth + denominator - 1) / denominator
        let height = (fullHeight + denominator - 1) / denominator
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        let result = jpeg.withUnsafeBufferPointer { source in
            rgb.withUnsafeMutableBufferPointer { target in
                tjDecompress2(
                    handle, source.baseAddress, UInt(source.count), target.baseAddress, Int32(width), Int32(width * 3),
                    Int32(height), Int32(TJPF_RGB.rawValue), Int32(TJFLAG_FASTUPSAMPLE))
            }
        }
        guard result == 0 else { throw error("decode a JPEG") }
        return (width, height, rgb)
    }

    private func error(_ action: String) -> JPEGError {
        JPEGError(action: action, reason: String(cString: tjGetErrorStr2(handle)))
    }

    /// The smallest DCT scale (1/8, 1/4, 1/2, 1) that still gives at least `rows` rows.
    public static func denominator(frameHeight: Int, rows: Int) -> Int {
        for denominator in [8, 4, 2] where (frameHeight + denominator - 1) / denominator >= rows { return denominator }
        return 1
    }
}

/// Splits an MJPEG stream (concatenated JPEGs, as an MJPEG camera or `../shared/footage` gives
/// them) into frames on the SOI (FF D8) and EOI (FF D9) markers. A truncated last frame is left out.
public enum MJPEGSplitter {
    public static func frames(in data: [UInt8]) -> [Range<Int>] {
        var frames: [Range<Int>] = []
        var index = 0
        let count = data.count
        while index + 1 < count {
            guard data[index] == 0xFF, data[index + 1] == 0xD8 else {
                index += 1
                continue
            }
            let start = index
            var cursor = index + 2
            var end: Int?
            while cursor + 1 < count {
                if data[cursor] == 0xFF && data[cursor + 1] == 0xD9 {
                    end = cursor + 2
                    break
                }
                cursor += 1
            }
            guard let end else { break }
            frames.append(start..<end)
            index = end
        }
        return frames
    }
}

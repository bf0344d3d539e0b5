internal import CTurboJPEG
import Motion

/// The privacy masks rasterised to 8×8 blocks of the camera frame: a block is masked when any of
/// its pixels is inside a mask polygon, so a mask is rounded outwards, never inwards.
public struct PrivacyMask: Sendable, Equatable {
    public let frameWidth: Int
    public let frameHeight: Int
    /// Blocks across and down (the frame rounded up to whole blocks).
    public let columns: Int
    public let rows: Int
    public let blocks: [Bool]

    public init(polygons: [FramePolygon], frameWidth: Int, frameHeight: Int) {
        self.frameWidth = frameWidth
        self.frameHeight = frameHeight
        columns = (frameWidth + 7) / 8
        rows = (frameHeight + 7) / 8
        var blocks = [Bool](repeating: false, count: columns * rows)
        // Scan every pixel row through each polygon; mark the blocks its inside spans touch.
        for polygon in polygons {
            for y in 0..<frameHeight {
                let center = Double(y) + 0.5
                var crossings: [Double] = []
                var j = polygon.points.count - 1
                for i in polygon.points.indices {
                    let (a, b) = (polygon.points[i], polygon.points[j])
                    if (a.y > center) != (b.y > center) {
                        crossings.append(a.x + (center - a.y) / (b.y - a.y) * (b.x - a.x))
                    }
                    j = i
                }
                crossings.sort()
                for pair in stride(from: 0, to: crossings.count - 1, by: 2) {
                    let first = max(0, Int(crossings[pair].rounded(.down)))
                    let last = min(frameWidth - 1, Int(crossings[pair + 1].rounded(.up)) - 1)
                    guard first <= last else { continue }
                    for column in (first / 8)...(last / 8) { blocks[(y / 8) * columns + column] = true }
                }
            }
        }
        self.blocks = blocks
    }

    public var isEmpty: Bool { !blocks.contains(true) }

    /// Whether the frame pixel (x, y) is in a masked block.
    public func covers(x: Int, y: Int) -> Bool { blocks[(y / 8) * columns + x / 8] }
}

/// Applies privacy masks to MJPEG frames without decoding them: libturbojpeg's lossless
/// transform hands each component's DCT coefficients to a filter, which turns every masked block
/// into a flat black block (luma DC at black, chroma DC at neutral, all AC zero). The result is a
/// valid JPEG whose masked blocks decode to black and whose other blocks are untouched. Metadata
/// (EXIF and the like) is dropped too. One instance serves one task at a time.
public final class JPEGMasker {
    private let handle: tjhandle
    public let mask: PrivacyMask

    public init(mask: PrivacyMask) throws(JPEGError) {
        guard let handle = tjInitTransform() else {
            throw JPEGError(action: "create a JPEG transformer", reason: String(cString: tjGetErrorStr2(nil)))
        }
        self.handle = handle
        self.mask = mask
    }

    deinit { tjDestroy(handle) }

    /// `jpeg` with the masked blocks black. The corresponding C function is `tjTransform`.
    public func apply(_ jpeg: [UInt8]) throws(JPEGError) -> [UInt8] {
        guard let layout = JPEGLayout(jpeg) else {
            throw JPEGError(action: "mask a JPEG", reason: "no quantisation tables or frame header found")
        }
        guard layout.width == mask.frameWidth, layout.height == mask.frameHeight else {
            throw JPEGError(
                action: "mask a JPEG",
                reason:
                    "the frame is \(layout.width)×\(layout.height), the masks are for \(mask.frameWidth)×\(mask.frameHeight)"
            )
        }
        let context = MaskContext(mask: mask, layout: layout)
        var transform = tjtransform()
        transform.op = Int32(TJXOP_NONE.rawValue)
        transform.options = Int32(TJXOPT_COPYNONE)
        transform.customFilter = maskFilter
        var output: UnsafeMutablePointer<UInt8>?
        var outputSize: UInt = 0
        let result = withExtendedLifetime(context) {
            transform.data = Unmanaged.passUnretained(context).toOpaque()
            return jpeg.withUnsafeBufferPointer { source in
                tjTransform(handle, source.baseAddress, UInt(source.count), 1, &output, &outputSize, &transform, 0)
            }
        }
        defer { tjFree(output) }
        guard result == 0, let output else {
            throw JPEGError(action: "mask a JPEG", reason: String(cString: tjGetErrorStr2(handle)))
        }
        return Array(UnsafeBufferPointer(start: output, count: Int(outputSize)))
    }
}

/// What the filter needs, reachable from `tjtransform.data`.
final class MaskContext {
    let mask: PrivacyMask
    let layout: JPEGLayout

    init(mask: PrivacyMask, layout: JPEGLayout) {
        self.mask = mask
        self.layout = layout
    }
}

/// The DCT filter: called per coefficient array of each component, in block-row order.
private func maskFilter(
    coefficients: UnsafeMutablePointer<Int16>?, arrayRegion: tjregion, planeRegion: tjregion, component: Int32,
    transformIndex: Int32, transform: UnsafeMutablePointer<tjtransform>?
) -> Int32 {
    guard let coefficients, let data = transform?.pointee.data else { return -1 }
    let context = Unmanaged<MaskContext>.fromOpaque(data).takeUnretainedValue()
    let layout = context.layout
    let index = Int(component)
    guard index < layout.components.count else { return -1 }
    let sampling = layout.components[index]
    // One block of this component spans this many 8×8 luma blocks.
    let spanX = layout.maxHorizontal / sampling.horizontal
    let spanY = layout.maxVertical / sampling.vertical
    // Black for luma: level −128 → quantised DC −1024/Q; neutral (0) for chroma.
    let dc: Int16 = index == 0 ? Int16(clamping: Int((-1024.0 / Double(sampling.quantizerDC)).rounded())) : 0
    let mask = context.mask
    let blocksAcross = Int(arrayRegion.w) / 8
    let blockRows = Int(arrayRegion.h) / 8
    for row in 0..<blockRows {
        let blockY = Int(arrayRegion.y) / 8 + row
        for column in 0..<blocksAcross {
            let blockX = Int(arrayRegion.x) / 8 + column
            var covered = false
            for y in (blockY * spanY)..<min(mask.rows, (blockY + 1) * spanY) where !covered {
                for x in (blockX * spanX)..<min(mask.columns, (blockX + 1) * spanX)
                where mask.blocks[y * mask.columns + x] {
                    covered = true
                    break
                }
            }
            guard covered else { continue }
            let block = coefficients + (row * blocksAcross + column) * 64
            block[0] = dc
            for k in 1..<64 { block[k] = 0 }
        }
    }
    return 0
}

/// The parts of a JPEG header the mask filter needs: size, sampling factors and each
/// component's DC quantiser, read from SOF and DQT.
struct JPEGLayout {
    struct Component {
        var horizontal: Int
        var vertical: Int
        var quantizerDC: Int
    }

    var width = 0
    var height = 0
    var components: [Component] = []
    var maxHorizontal: Int { components.map(\.horizontal).max() ?? 1 }
    var maxVertical: Int { components.map(\.vertical).max() ?? 1 }

    init?(_ jpeg: [UInt8]) {
        var tables: [Int: Int] = [:]
        var frame: [(h: Int, v: Int, table: Int)] = []
        var index = 2
        while index + 4 <= jpeg.count, jpeg[index] == 0xFF {
            let marker = jpeg[index + 1]
            let length = Int(jpeg[index + 2]) << 8 | Int(jpeg[index + 3])
            let body = index + 4
            guard body + length - 2 <= jpeg.count else { return nil }
            switch marker {
            case 0xDB:  // DQT: one or more tables
                var cursor = body
                while cursor < body + length - 2 {
                    let precision = Int(jpeg[cursor] >> 4)
                    let id = Int(jpeg[cursor] & 0x0F)
                    tables[id] =
                        precision == 0 ? Int(jpeg[cursor + 1]) : Int(jpeg[cursor + 1]) << 8 | Int(jpeg[cursor + 2])
                    cursor += 1 + 64 * (precision == 0 ? 1 : 2)
                }
            case 0xC0, 0xC1, 0xC2:  // SOF: baseline, extended, progressive
                height = Int(jpeg[body + 1]) << 8 | Int(jpeg[body + 2])
                width = Int(jpeg[body + 3]) << 8 | Int(jpeg[body + 4])
                let count = Int(jpeg[body + 5])
                for c in 0..<count {
                    let base = body + 6 + c * 3
                    frame.append((Int(jpeg[base + 1] >> 4), Int(jpeg[base + 1] & 0x0F), Int(jpeg[base + 2])))
                }
            case 0xDA:  // start of scan: the header is over
                index = jpeg.count
                continue
            default:
                break
            }
            index = body + length - 2
        }
        guard !frame.isEmpty else { return nil }
        var components: [Component] = []
        for entry in frame {
            guard let q = tables[entry.table], q > 0, entry.h > 0, entry.v > 0 else { return nil }
            components.append(Component(horizontal: entry.h, vertical: entry.v, quantizerDC: q))
        }
        self.components = components
    }
}

import JPEG
import Media
import Motion
import Testing

@Suite("YUYV frames", .timeLimit(.minutes(10)))
struct YUYVTests {
    /// A YUYV frame made from a real picture's luma, with a colour cast in the chroma.
    func frame() throws -> (bytes: [UInt8], luma: GreyPlane) {
        let luma = try JPEGDecoder().decodeGrey(loadFrames("vtest_640x480.mjpeg")[10], denominator: 1)
        var bytes = [UInt8](repeating: 0, count: 640 * 480 * 2)
        for index in 0..<(640 * 480) {
            bytes[index * 2] = luma.pixels[index]
            bytes[index * 2 + 1] = index % 2 == 0 ? 100 : 160
        }
        return (bytes, luma)
    }

    @Test("a masked YUYV frame encodes to a JPEG that is black under the mask and close to the original elsewhere")
    func maskAndEncode() throws {
        var (bytes, luma) = try frame()
        let mask = PrivacyMask(
            polygons: [FramePolygon(name: "m", points: [(100, 100), (300, 100), (300, 200), (100, 200)])],
            frameWidth: 640, frameHeight: 480)
        YUYV.applyMask(mask, to: &bytes, width: 640, height: 480)
        let jpeg = try JPEGEncoder().encodeYUYV(bytes, width: 640, height: 480, quality: 90)
        let decoder = try JPEGDecoder()
        let decoded = try decoder.decodeGrey(jpeg, denominator: 1)
        let colour = try decoder.decodeRGB(jpeg)
        var worst = 0
        for y in stride(from: 0, to: 480, by: 2) {
            for x in stride(from: 0, to: 640, by: 2) {
                if mask.covers(x: x, y: y) {
                    #expect(decoded[x, y] <= 4)
                    let base = (y * 640 + x) * 3
                    #expect(colour.rgb[base...(base + 2)].allSatisfy { $0 <= 6 })
                } else if !mask.covers(x: max(0, x - 8), y: y) && !mask.covers(x: min(639, x + 8), y: y)
                    && !mask.covers(x: x, y: max(0, y - 8)) && !mask.covers(x: x, y: min(479, y + 8))
                {
                    worst = max(worst, abs(Int(decoded[x, y]) - Int(luma[x, y])))
                }
            }
        }
        #expect(worst <= 40, "largest luma error away from the mask: \(worst)")
    }

    @Test("the motion plane is a luma subsample with at least the asked rows")
    func greyPlane() throws {
        let (bytes, luma) = try frame()
        let plane = YUYV.greyPlane(bytes, width: 640, height: 480, rows: 120)
        #expect(plane.width == 160 && plane.height == 120)
        #expect(plane[10, 20] == luma[40, 80])
        #expect(YUYV.greyPlane(bytes, width: 640, height: 480, rows: 200).height == 240)
    }
}

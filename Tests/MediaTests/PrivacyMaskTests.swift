import DoorbellTestKit
import Foundation
import JPEG
import Media
import Motion
import Testing

func loadFrames(_ name: String) throws -> [[UInt8]] {
    let bytes = try footage(name)
    return MJPEGSplitter.frames(in: bytes).map { Array(bytes[$0]) }
}

@Suite("Privacy masks in the DCT domain", .timeLimit(.minutes(10)))
struct PrivacyMaskTests {
    /// A neighbour's window (a quadrilateral) and a strip along the top, on a 640×480 frame.
    let polygons = [
        FramePolygon(name: "window", points: [(x: 420, y: 60), (x: 600, y: 70), (x: 590, y: 250), (x: 430, y: 230)]),
        FramePolygon(name: "street", points: [(x: 0, y: 0), (x: 640, y: 0), (x: 640, y: 37), (x: 0, y: 37)]),
    ]

    @Test("masked pixels decode to black, every other luma pixel is bit-identical to the unmasked frame")
    func maskedBlocksAreBlack() throws {
        let frames = try loadFrames("vtest_640x480.mjpeg")
        let mask = PrivacyMask(polygons: polygons, frameWidth: 640, frameHeight: 480)
        let masker = try JPEGMasker(mask: mask)
        let decoder = try JPEGDecoder()
        for jpeg in [frames[0], frames[77], frames[149]] {
            let masked = try masker.apply(jpeg)
            let original = try decoder.decodeGrey(jpeg, denominator: 1)
            let result = try decoder.decodeGrey(masked, denominator: 1)
            let colour = try decoder.decodeRGB(masked)
            var maskedPixels = 0
            for y in 0..<480 {
                for x in 0..<640 {
                    if mask.covers(x: x, y: y) {
                        maskedPixels += 1
                        #expect(result[x, y] <= 4, "luma \(result[x, y]) at (\(x), \(y))")
                        let base = (y * 640 + x) * 3
                        #expect(colour.rgb[base...(base + 2)].allSatisfy { $0 <= 6 }, "colour at (\(x), \(y))")
                    } else if result[x, y] != original[x, y] {
                        Issue.record("pixel (\(x), \(y)) outside the mask changed")
                        return
                    }
                }
            }
            // Every pixel inside a polygon is masked, and the mask is not much larger than they are.
            #expect(mask.covers(x: 500, y: 150) && mask.covers(x: 320, y: 10) && !mask.covers(x: 320, y: 300))
            #expect(maskedPixels >= 640 * 37 + 150 * 170 && maskedPixels <= 640 * 40 + 200 * 210)
        }
    }

    @Test("a frame of another size than the masks is refused, not passed through unmasked")
    func sizeMismatch() throws {
        let frames = try loadFrames("vtest_640x480.mjpeg")
        let masker = try JPEGMasker(mask: PrivacyMask(polygons: polygons, frameWidth: 1280, frameHeight: 720))
        #expect(throws: JPEGError.self) { _ = try masker.apply(frames[0]) }
    }

    @Test("garbage is refused")
    func garbage() throws {
        let masker = try JPEGMasker(mask: PrivacyMask(polygons: polygons, frameWidth: 640, frameHeight: 480))
        #expect(throws: JPEGError.self) { _ = try masker.apply([0xFF, 0xD8, 0xFF, 0xD9]) }
        #expect(throws: JPEGError.self) { _ = try masker.apply([UInt8](repeating: 7, count: 1000)) }
    }
}

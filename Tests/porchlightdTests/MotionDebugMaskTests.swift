import DoorbellTestKit
import Foundation
import Testing

/// The fifth output path of the privacy mask (the others are in `EndToEndSealingTests`): the motion
/// debug images `porchlightctl motion analyze --debug-dir` writes are black under the mask.
@Suite("Privacy mask in motion debug images", .timeLimit(.minutes(10)))
struct MotionDebugMaskTests {
    @Test("every debug image is black under the mask and not black elsewhere")
    func masked() async throws {
        let directory = try TemporaryDirectory()
        let config = try directory.write(
            "porchlight.toml",
            """
            [button]
            enabled = false
            [camera]
            fps = 10
            [[privacy.masks]]
            name = "Neighbour"
            points = [[0, 0], [208, 0], [208, 160], [0, 160]]
            """)
        let debug = directory.path + "/debug"
        let analyze = try ChildProcess(
            "porchlightctl",
            arguments: [
                "motion", "analyze", "--config", config, "--debug-dir", debug,
                "\(repositoryRoot)/demo/porch_640x480.mjpeg",
            ])
        #expect(try await analyze.runToExit(timeout: .seconds(120)) == 0, "stderr:\n\(analyze.stderr)")
        let images = try FileManager.default.contentsOfDirectory(atPath: debug).filter { $0.hasSuffix(".pgm") }.sorted()
        #expect(images.count > 10)
        for name in images {
            let bytes = try [UInt8](#require(FileManager.default.contents(atPath: debug + "/" + name)))
            // "P5\nW H\n255\n", then the pixels.
            let header = String(decoding: bytes.prefix(20), as: UTF8.self).split(whereSeparator: \.isWhitespace)
            let (width, height) = (Int(header[1]) ?? 0, Int(header[2]) ?? 0)
            let pixels = Array(bytes.suffix(width * height))
            let scale = Double(width) / 640
            func brightest(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int) -> UInt8 {
                var most: UInt8 = 0
                for y in y0..<y1 { for x in x0..<x1 { most = max(most, pixels[y * width + x]) } }
                return most
            }
            // The mask's inside, less a JPEG block at its edges, in plane pixels.
            let inside = brightest(0, 0, Int(200 * scale), Int(152 * scale))
            let outside = brightest(Int(224 * scale), Int(176 * scale), width, height)
            #expect(inside <= 8, "\(name): the masked area is not black (\(inside))")
            #expect(outside > 40, "\(name): the picture outside the mask is blank (\(outside))")
        }
    }
}

import Config
import Foundation
import JPEG
import Media
import Motion

/// Best-of-runs time per call of `body`, so that a busy moment on the machine does not count.
func timePerCall(iterations: Int, runs: Int = 5, _ body: () -> Void) -> Duration {
    var best = Duration.seconds(1_000_000)
    for _ in 0..<runs {
        let start = ContinuousClock.now
        for _ in 0..<iterations { body() }
        best = min(best, (ContinuousClock.now - start) / iterations)
    }
    return best
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// A plane of smooth random texture with moving noise, so the kernels see realistic branches.
func syntheticPlanes(width: Int, height: Int, count: Int) -> [GreyPlane] {
    var state: UInt64 = 42
    func next() -> UInt8 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(truncatingIfNeeded: state >> 56)
    }
    let base = (0..<(width * height)).map { index in UInt8(64 + (index % width + index / width) % 128) }
    return (0..<count).map { _ in
        GreyPlane(width: width, height: height, pixels: base.map { UInt8(clamping: Int($0) + Int(next() % 9) - 4) })
    }
}

func motionBenchmarks(input: String?) throws {
    // The whole detector step (model update, cells, blobs, zones, events) per analysed frame.
    for (width, height) in [(160, 120), (320, 240), (640, 480)] {
        let planes = syntheticPlanes(width: width, height: height, count: 8)
        var detector = MotionDetector(settings: MotionSettings(frameWidth: width * 4, frameHeight: height * 4))
        var index = 0
        for plane in planes { _ = detector.analyze(plane, at: .milliseconds(200 * index)); index += 1 }
        let perFrame = timePerCall(iterations: 2000 / max(1, width / 160)) {
            _ = detector.analyze(planes[index % planes.count], at: .milliseconds(200 * index))
            index += 1
        }
        emit("motion_step_\(width)x\(height)", seconds(perFrame) * 1e6, "us/frame")
    }

    // The full-resolution model pass (difference, threshold, background and spread update)
    // beside memcpy of a frame-sized buffer, in frame bytes per second.
    for (width, height) in [(640, 480), (1920, 1080)] {
        let planes = syntheticPlanes(width: width, height: height, count: 4)
        var model = SigmaDeltaModel(first: planes[0], parameters: SigmaDeltaParameters())
        var foreground = [UInt8](repeating: 0, count: width * height)
        var index = 0
        let pass = timePerCall(iterations: 200) {
            _ = model.update(with: planes[index % 4], parameters: SigmaDeltaParameters(), foreground: &foreground)
            index += 1
        }
        var target = [UInt8](repeating: 0, count: width * height)
        let copy = timePerCall(iterations: 200) {
            planes[index % 4].pixels.withUnsafeBytes { source in
                target.withUnsafeMutableBytes { _ = memcpy($0.baseAddress!, source.baseAddress!, source.count) }
            }
            index += 1
        }
        let bytes = Double(width * height)
        emit("model_pass_\(width)x\(height)", bytes / seconds(pass) / 1e9, "GB/s")
        emit("memcpy_\(width)x\(height)", bytes / seconds(copy) / 1e9, "GB/s")
    }

    // Scaled grey decode of a real clip, and the ingest cost (decode for analysis + motion).
    // Without --input: the bundled footage beside the repository (found from this file's path).
    let root = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")
    let path = input ?? root + "/../shared/footage/vtest_640x480.mjpeg"
    guard let data = FileManager.default.contents(atPath: path) else {
        FileHandle.standardError.write(Data("porchlight-bench: no clip at \(path); skipping the decode figures\n".utf8))
        return
    }
    let bytes = [UInt8](data)
    let frames = MJPEGSplitter.frames(in: bytes).map { Array(bytes[$0]) }
    let decoder = try JPEGDecoder()
    let size = try decoder.size(of: frames[0])
    let name = path.split(separator: "/").last.map(String.init) ?? "clip"
    for denominator in [8, 4] {
        var index = 0
        let decode = timePerCall(iterations: frames.count, runs: 3) {
            _ = try? decoder.decodeGrey(frames[index % frames.count], denominator: denominator)
            index += 1
        }
        emit("jpeg_grey_decode_1_\(denominator)_\(size.width)x\(size.height)", seconds(decode) * 1e3, "ms/frame")
    }
    var analyzer = try FrameAnalyzer(
        settings: MotionSettings(config: Config().motion, frameWidth: size.width, frameHeight: size.height),
        planeRows: Config().motion.planeHeight, analysisFPS: 1000)
    var index = 0
    let ingest = timePerCall(iterations: frames.count, runs: 3) {
        _ = try? analyzer.process(frames[index % frames.count], at: .milliseconds(index * 100))
        index += 1
    }
    emit("ingest_\(name)", seconds(ingest) * 1e3, "ms/analysed frame")
}

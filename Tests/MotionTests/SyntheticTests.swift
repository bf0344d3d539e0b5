import JPEG
import Media
import Testing

@testable import Motion

/// Semi-synthetic cases on a real background: the per-pixel median of the vtest frames (which
/// removes the walkers), decoded at the motion plane's resolution, plus sensor-like noise.
struct SyntheticScene {
    let background: GreyPlane
    var rng = SplitMix(state: 11)

    init() throws {
        let frames = try loadFrames("vtest_640x480.mjpeg")
        let decoder = try JPEGDecoder()
        let planes = try stride(from: 0, to: frames.count, by: 5).map {
            try decoder.decodeGrey(frames[$0], denominator: 4)
        }
        let first = planes[0]
        var pixels = [UInt8](repeating: 0, count: first.pixels.count)
        for index in pixels.indices {
            let values = planes.map { $0.pixels[index] }.sorted()
            pixels[index] = values[values.count / 2]
        }
        background = GreyPlane(width: first.width, height: first.height, pixels: pixels)
    }

    /// The background times `gain`, plus noise of ±3, plus textured dark rectangles.
    mutating func frame(gain: Double = 1, objects: [(x: Int, y: Int, width: Int, height: Int)] = []) -> GreyPlane {
        var plane = background
        for index in plane.pixels.indices {
            let value = Double(background.pixels[index]) * gain + Double(Int.random(in: -3...3, using: &rng))
            plane.pixels[index] = UInt8(clamping: Int(value.rounded()))
        }
        for object in objects {
            for y in max(0, object.y)..<min(plane.height, object.y + object.height) {
                for x in max(0, object.x)..<min(plane.width, object.x + object.width) {
                    plane[x, y] = UInt8(20 + (x * 7 + y * 13) % 40)
                }
            }
        }
        return plane
    }
}

@Suite("Motion detection on semi-synthetic scenes", .timeLimit(.minutes(10)))
struct SyntheticTests {
    let frameTime = Duration.milliseconds(200)

    func detector() -> MotionDetector {
        MotionDetector(settings: MotionSettings(frameWidth: 640, frameHeight: 480))
    }

    @Test("a global brightness step of ×0.6 raises no event")
    func brightnessStep() throws {
        var scene = try SyntheticScene()
        var detector = detector()
        var started = 0
        for index in 0..<60 {
            let result = detector.analyze(scene.frame(gain: index < 30 ? 1 : 0.6), at: frameTime * index)
            started += result.events.filter { if case .started = $0 { true } else { false } }.count
        }
        #expect(started == 0)
    }

    @Test("a person-sized object crossing right after the step is still detected")
    func personAfterStep() throws {
        var scene = try SyntheticScene()
        var detector = detector()
        var startedAt: Int?
        for index in 0..<60 {
            let gain = index < 30 ? 1 : 0.6
            // 8×24 plane pixels (32×96 camera pixels), walking 4 pixels a frame from frame 31.
            let objects = index > 30 ? [(x: 10 + (index - 31) * 4, y: 60, width: 8, height: 24)] : []
            let result = detector.analyze(scene.frame(gain: gain, objects: objects), at: frameTime * index)
            if startedAt == nil, result.events.contains(where: { if case .started = $0 { true } else { false } }) {
                startedAt = index
            }
        }
        // Reported within 2 s (10 analysed frames) of the person appearing, and not before.
        let start = try #require(startedAt, "the person was not detected")
        #expect(start > 30 && start <= 41, "reported at frame \(start)")
    }

    @Test("a visitor filling 60 % of the frame is detected, not taken for a lighting change")
    func closeVisitor() throws {
        var scene = try SyntheticScene()
        var detector = detector()
        var started = false
        for index in 0..<45 {
            // Walks up to the camera: from a small figure to 60 % of the frame (96 of 160 columns).
            let objects = index >= 30 ? [(x: 30, y: 0, width: min(96, 16 + (index - 30) * 16), height: 120)] : []
            let result = detector.analyze(scene.frame(objects: objects), at: frameTime * index)
            started = started || result.events.contains { if case .started = $0 { true } else { false } }
        }
        #expect(started)
        // And it also holds when the visitor appears all at once.
        var sudden = self.detector()
        var seen = false
        for index in 0..<40 {
            let objects = index >= 30 ? [(x: 30, y: 0, width: 96, height: 120)] : []
            seen = seen || sudden.analyze(scene.frame(objects: objects), at: frameTime * index).eventActive
        }
        #expect(seen)
    }
}

@Suite("Zones", .timeLimit(.minutes(10)))
struct ZoneTests {
    @Test("each zone has its own minimum area, and a detection mask hides what moves under it")
    func zoneSensitivityAndMasks() throws {
        var scene = try SyntheticScene()
        func run(_ settings: MotionSettings, object: (x: Int, y: Int, width: Int, height: Int)) -> [String] {
            var detector = MotionDetector(settings: settings)
            var zones: Set<String> = []
            for index in 0..<30 {
                let result = detector.analyze(
                    scene.frame(objects: index >= 20 ? [object] : []), at: .milliseconds(200 * index))
                for case .started(let report) in result.events { zones.formUnion(report.zones) }
                for case .updated(let report) in result.events { zones.formUnion(report.zones) }
            }
            return zones.sorted()
        }
        var settings = MotionSettings(frameWidth: 640, frameHeight: 480)
        settings.zones = [
            FramePolygon(name: "road", points: [(0, 0), (320, 0), (320, 480), (0, 480)], minAreaPercent: 30),
            FramePolygon(name: "mat", points: [(320, 0), (640, 0), (640, 480), (320, 480)], minAreaPercent: 0.5),
        ]
        // A 12×20 plane-pixel object (about 4 % of a half frame).
        #expect(run(settings, object: (x: 40, y: 50, width: 12, height: 20)) == [])
        #expect(run(settings, object: (x: 120, y: 50, width: 12, height: 20)) == ["mat"])
        settings.masks = [FramePolygon(name: "hedge", points: [(400, 100), (560, 100), (560, 340), (400, 340)])]
        #expect(run(settings, object: (x: 110, y: 35, width: 16, height: 40)) == [])
    }
}

import Config
import JPEG
import Motion

/// Offline motion analysis of a recorded stream, frame by frame, with the daemon's pipeline.
public enum MotionAnalysis {
    public struct Row: Sendable, Equatable {
        public var frame: Int
        /// An event is active at this frame (skipped frames repeat the last decision).
        public var active: Bool
        public var changedFraction: Double
        public var boxes: Int
    }

    public struct Event: Sendable, Equatable {
        public var start: Int
        public var end: Int
    }

    public struct Result: Sendable {
        public var rows: [Row]
        public var events: [Event]
    }

    /// Analyses `frames` (JPEGs) recorded at `fps`, with the analysis rate from `config`.
    /// With `debugImage`, each analysed frame's plane is handed over with its boxes drawn in.
    /// Privacy masks are applied to every frame first, as the daemon does, so that no debug image
    /// shows what a mask hides.
    public static func run(
        frames: [[UInt8]], config: MotionConfig, privacy: PrivacyConfig = Config().privacy, fps: Int,
        firstFrame: [UInt8], debugImage: ((Int, GreyPlane) -> Void)? = nil
    ) throws(JPEGError) -> Result {
        let size = try JPEGDecoder().size(of: firstFrame)
        let mask = PrivacyMask(
            polygons: privacy.masks.map { FramePolygon(name: $0.name, points: $0.points.map { ($0.x, $0.y) }) },
            frameWidth: size.width, frameHeight: size.height)
        let masker = mask.isEmpty ? nil : try JPEGMasker(mask: mask)
        var analyzer = try FrameAnalyzer(
            settings: MotionSettings(config: config, frameWidth: size.width, frameHeight: size.height),
            planeRows: config.planeHeight, analysisFPS: min(config.analysisFPS, fps))
        let frameTime = Duration.seconds(1) / fps
        var rows: [Row] = []
        var events: [Event] = []
        var last = Row(frame: 0, active: false, changedFraction: 0, boxes: 0)
        var openStart: Int?
        for (index, original) in frames.enumerated() {
            let time = frameTime * index
            analyzer.keepPlanes = debugImage != nil
            let jpeg = try masker?.apply(original) ?? original
            if let analysed = try analyzer.process(jpeg, at: time) {
                if let debugImage, var plane = analyzer.lastPlane {
                    drawBoxes(analysed.boxes, on: &plane, frameWidth: size.width)
                    debugImage(index, plane)
                }
                last = Row(
                    frame: index, active: analysed.eventActive, changedFraction: analysed.changedFraction,
                    boxes: analysed.boxes.count)
                for event in analysed.events {
                    switch event {
                    case .started(let report): openStart = Int((report.startedAt / frameTime).rounded())
                    case .ended:
                        if let start = openStart { events.append(Event(start: start, end: max(start, index - 1))) }
                        openStart = nil
                    case .updated: break
                    }
                }
            }
            last.frame = index
            rows.append(last)
        }
        if let start = openStart { events.append(Event(start: start, end: frames.count - 1)) }
        // Frames from the start of an event to its confirmation count as motion too.
        for event in events {
            for index in event.start...event.end { rows[index].active = true }
        }
        return Result(rows: rows, events: events)
    }

    /// Outlines each box (camera pixels) on the plane in white.
    static func drawBoxes(_ boxes: [MotionBox], on plane: inout GreyPlane, frameWidth: Int) {
        let scale = Double(plane.width) / Double(frameWidth)
        for box in boxes {
            let left = max(0, Int(Double(box.x) * scale))
            let top = max(0, Int(Double(box.y) * scale))
            let right = min(plane.width - 1, Int(Double(box.x + box.width) * scale) - 1)
            let bottom = min(plane.height - 1, Int(Double(box.y + box.height) * scale) - 1)
            guard left <= right, top <= bottom else { continue }
            for x in left...right {
                plane[x, top] = 255
                plane[x, bottom] = 255
            }
            for y in top...bottom {
                plane[left, y] = 255
                plane[right, y] = 255
            }
        }
    }

    /// A binary PGM (P5) of the plane, which any image viewer opens.
    public static func pgm(_ plane: GreyPlane) -> [UInt8] {
        Array("P5\n\(plane.width) \(plane.height)\n255\n".utf8) + plane.pixels
    }
}

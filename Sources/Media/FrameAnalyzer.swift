import Config
import JPEG
import Motion

/// The daemon's motion path for one MJPEG stream: a DCT-scaled grey decode of every analysed
/// frame, then the detector. Frames between analysis ticks are skipped, so analysis runs at its
/// own rate whatever the capture rate. `porchlightctl motion analyze` runs exactly this.
public struct FrameAnalyzer {
    public private(set) var detector: MotionDetector
    private let decoder: JPEGDecoder
    private let planeRows: Int
    private let interval: Duration
    private var nextAnalysis: Duration?
    /// For tuning (`porchlightctl motion analyze --debug-dir`): keep the last analysed plane.
    public var keepPlanes = false
    public private(set) var lastPlane: GreyPlane?

    public init(settings: MotionSettings, planeRows: Int, analysisFPS: Int) throws(JPEGError) {
        detector = MotionDetector(settings: settings)
        decoder = try JPEGDecoder()
        self.planeRows = planeRows
        interval = .seconds(1) / analysisFPS
    }

    /// Analyses `jpeg` if an analysis is due at `time`; nil when the frame is skipped.
    public mutating func process(_ jpeg: [UInt8], at time: Duration) throws(JPEGError) -> MotionFrame? {
        if let next = nextAnalysis, time < next { return nil }
        // Keep to the cadence without drifting when frames arrive slightly late.
        nextAnalysis = max((nextAnalysis ?? time) + interval, time + interval / 2)
        let plane = try decoder.decodeGrey(
            jpeg, denominator: JPEGDecoder.denominator(frameHeight: detector.settings.frameHeight, rows: planeRows))
        if keepPlanes { lastPlane = plane }
        return detector.analyze(plane, at: time)
    }

    /// Analyses a grey plane made elsewhere (a YUYV frame's luma) if an analysis is due.
    public mutating func process(plane: @autoclosure () -> GreyPlane, at time: Duration) -> MotionFrame? {
        if let next = nextAnalysis, time < next { return nil }
        nextAnalysis = max((nextAnalysis ?? time) + interval, time + interval / 2)
        return detector.analyze(plane(), at: time)
    }

    public mutating func noteRing(at time: Duration) {
        detector.noteRing(at: time)
    }
}

extension MotionSettings {
    /// The detector settings from the configuration, for a camera frame of the given size.
    public init(config: MotionConfig, frameWidth: Int, frameHeight: Int) {
        self.init(frameWidth: frameWidth, frameHeight: frameHeight)
        minAreaPercent = config.minAreaPercent
        startAfter = config.startAfter
        quietAfter = config.quietAfter
        lightingChangePercent = config.lightingChangePercent
        model.spreadFactor = UInt8(max(1, min(8, config.thresholdSigma.rounded())))
        zones = config.zones.map {
            FramePolygon(name: $0.name, points: $0.points.map { ($0.x, $0.y) }, minAreaPercent: $0.minAreaPercent)
        }
        masks = config.masks.map { FramePolygon(name: $0.name, points: $0.points.map { ($0.x, $0.y) }) }
    }
}

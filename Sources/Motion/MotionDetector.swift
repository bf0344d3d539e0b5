/// A box around moving pixels, in camera-frame pixels.
public struct MotionBox: Sendable, Equatable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int
}

/// What the detector reports about an event.
public struct MotionReport: Sendable, Equatable {
    /// When the motion that started the event was first seen (before the persistence check).
    public var startedAt: Duration
    public var at: Duration
    public var boxes: [MotionBox]
    /// The zones with motion.
    public var zones: [String]
    /// The changed share of the zones' area that triggered, relative to the minimum (≥ 1 is motion).
    public var score: Double
}

public enum MotionEvent: Sendable, Equatable {
    case started(MotionReport)
    case updated(MotionReport)
    case ended(MotionReport)
}

/// One analysed frame.
public struct MotionFrame: Sendable, Equatable {
    /// An event is in progress (persistence passed, quiet time not yet over).
    public var eventActive: Bool
    /// This frame, on its own, shows motion in a zone.
    public var motion: Bool
    /// Changed pixels over the plane's pixels.
    public var changedFraction: Double
    public var boxes: [MotionBox]
    /// A global lighting change was compensated on this frame.
    public var lightingCompensated: Bool
    public var events: [MotionEvent]
}

public struct MotionSettings: Sendable, Equatable {
    /// The camera frame the polygons and boxes refer to.
    public var frameWidth: Int
    public var frameHeight: Int
    public var minAreaPercent = 0.3
    public var startAfter = Duration.milliseconds(400)
    public var quietAfter = Duration.seconds(5)
    public var lightingChangePercent = 25.0
    public var zones: [FramePolygon] = []
    public var masks: [FramePolygon] = []
    /// Analysed frames during which the background converges fast and nothing is reported.
    public var warmupFrames = 10
    public var model = SigmaDeltaParameters()
    /// How long a visitor may stand still after a ring before melting into the background.
    public var holdAfterRing = Duration.seconds(60)

    public init(frameWidth: Int, frameHeight: Int) {
        self.frameWidth = frameWidth
        self.frameHeight = frameHeight
    }
}

/// The motion detector: Σ-Δ background and per-pixel spread, despeckled cells, blobs, zones and
/// detection masks, compensation of global lighting changes, and events with persistence and a
/// quiet time. Pure: frames and times come in, decisions go out.
public struct MotionDetector: Sendable {
    public let settings: MotionSettings
    private var model: SigmaDeltaModel?
    private var foreground: [UInt8] = []
    private var grid: CellGrid?
    private var zoneMasks: [(name: String, cells: [Bool], minimumCells: Int)] = []
    private var allowed: [Bool] = []
    private var framesSeen = 0
    private var candidateSince: Duration?
    private var eventStart: Duration?
    private var lastMotion: Duration?
    private var holdUntil: Duration?

    public init(settings: MotionSettings) {
        self.settings = settings
    }

    /// After a ring, keep a still visitor in the foreground for `holdAfterRing`.
    public mutating func noteRing(at time: Duration) {
        holdUntil = time + settings.holdAfterRing
    }

    public var isEventActive: Bool { eventStart != nil }

    public mutating func analyze(_ plane: GreyPlane, at time: Duration) -> MotionFrame {
        framesSeen += 1
        guard var model, model.width == plane.width, model.height == plane.height, var grid else {
            start(with: plane)
            return MotionFrame(
                eventActive: false, motion: false, changedFraction: 0, boxes: [], lightingCompensated: false, events: []
            )
        }
        var parameters = settings.model
        let warming = framesSeen <= settings.warmupFrames
        if warming {
            parameters.backgroundStep = 8
            parameters.spreadCreep = 0
        }
        if let holdUntil, time < holdUntil { parameters.holdFrames = 255 }

        // Take the model out of `self` while updating it, so that its arrays are uniquely
        // referenced and change in place instead of being copied every frame.
        self.model = nil
        self.grid = nil
        let changed = model.update(with: plane, parameters: parameters, foreground: &foreground)
        let changedFraction = Double(changed) / Double(plane.pixels.count)
        var compensated = false
        if !warming && changedFraction * 100 > settings.lightingChangePercent {
            compensated = compensateLighting(plane, &model)
        }
        grid.count(foreground, width: plane.width)
        if compensated {
            // This frame was compared under the old lighting; its changes are not evidence.
            for index in grid.counts.indices { grid.counts[index] = 0 }
        }
        self.model = model
        self.grid = grid
        let cells = grid

        let blobs = cells.blobs(allowed: allowed)
        var score = 0.0
        var zones: [String] = []
        for zone in zoneMasks {
            let area = blobs.reduce(0) { sum, blob in sum + blob.cells.filter { zone.cells[$0] }.count }
            let zoneScore = Double(area) / Double(zone.minimumCells)
            if zoneScore >= 1 { zones.append(zone.name) }
            score = max(score, zoneScore)
        }
        let boxes = blobs.map { box($0, cells) }
        let motion = !warming && !zones.isEmpty
        let events = track(
            motion: motion, at: time,
            report: { start in
                MotionReport(startedAt: start, at: time, boxes: boxes, zones: zones, score: score)
            })
        return MotionFrame(
            eventActive: eventStart != nil, motion: motion,
            changedFraction: changedFraction,
            boxes: boxes, lightingCompensated: compensated, events: events)
    }

    private mutating func start(with plane: GreyPlane) {
        model = SigmaDeltaModel(first: plane, parameters: settings.model)
        foreground = [UInt8](repeating: 0, count: plane.pixels.count)
        let cells = CellGrid(planeWidth: plane.width, planeHeight: plane.height)
        grid = cells
        let all = [Bool](repeating: true, count: cells.counts.count)
        allowed = all
        for mask in settings.masks {
            let covered = mask.cellMask(cells, frameWidth: settings.frameWidth, frameHeight: settings.frameHeight)
            for index in allowed.indices where covered[index] { allowed[index] = false }
        }
        let polygons: [(name: String, cells: [Bool], minimumPercent: Double)] =
            settings.zones.isEmpty
            ? [("frame", all, settings.minAreaPercent)]
            : settings.zones.map {
                (
                    $0.name, $0.cellMask(cells, frameWidth: settings.frameWidth, frameHeight: settings.frameHeight),
                    $0.minAreaPercent ?? settings.minAreaPercent
                )
            }
        zoneMasks = polygons.map { zone in
            let size = zone.cells.filter { $0 }.count
            return (zone.name, zone.cells, max(2, Int((Double(size) * zone.minimumPercent / 100).rounded(.up))))
        }
    }

    /// Persistence before an event starts, quiet time before it ends.
    private mutating func track(motion: Bool, at time: Duration, report: (Duration) -> MotionReport) -> [MotionEvent] {
        if let start = eventStart {
            if motion {
                lastMotion = time
                return [.updated(report(start))]
            }
            if let last = lastMotion, time - last >= settings.quietAfter {
                eventStart = nil
                candidateSince = nil
                return [.ended(report(start))]
            }
            return []
        }
        guard motion else {
            candidateSince = nil
            return []
        }
        let since = candidateSince ?? time
        candidateSince = since
        guard time - since >= settings.startAfter else { return [] }
        eventStart = since
        lastMotion = time
        return [.started(report(since))]
    }

    private func box(_ blob: Blob, _ grid: CellGrid) -> MotionBox {
        let cellWidth = Double(settings.frameWidth) / Double(grid.columns)
        let cellHeight = Double(settings.frameHeight) / Double(grid.rows)
        return MotionBox(
            x: Int(Double(blob.minColumn) * cellWidth), y: Int(Double(blob.minRow) * cellHeight),
            width: Int(Double(blob.maxColumn - blob.minColumn + 1) * cellWidth),
            height: Int(Double(blob.maxRow - blob.minRow + 1) * cellHeight))
    }

    /// A lighting or IR switch changes most of the frame by one common factor; a visitor changes
    /// part of it by many different ones. When much of the frame changed at once, compare blocks:
    /// if most agree on one gain, rescale the background by it and carry on, so that a visitor
    /// in a later frame is still seen. Returns whether it compensated.
    private func compensateLighting(_ plane: GreyPlane, _ model: inout SigmaDeltaModel) -> Bool {
        guard
            let gain = LightingEstimate.consensusGain(
                frame: plane.pixels, background: model.background, width: plane.width, height: plane.height)
        else { return false }
        model.rescaleBackground(by: gain)
        return true
    }
}

/// Global gain estimation for lighting changes.
enum LightingEstimate {
    /// The gain most textured blocks agree on, if at least half of them do and it is not ~1. A
    /// block agrees when its mean moved by that gain and its texture is still the background's
    /// (correlation ≥ 0.6): a visitor changes the texture, a lighting change only scales it.
    static func consensusGain(frame: [UInt8], background: [UInt8], width: Int, height: Int) -> Double? {
        let block = 16
        var ratios: [Double] = []
        for top in stride(from: 0, through: height - block, by: block) {
            for left in stride(from: 0, through: width - block, by: block) {
                var sf = 0.0
                var sb = 0.0
                var sff = 0.0
                var sbb = 0.0
                var sfb = 0.0
                for y in top..<(top + block) {
                    for x in left..<(left + block) {
                        let f = Double(frame[y * width + x])
                        let b = Double(background[y * width + x])
                        sf += f
                        sb += b
                        sff += f * f
                        sbb += b * b
                        sfb += f * b
                    }
                }
                let n = Double(block * block)
                let varianceB = sbb / n - (sb / n) * (sb / n)
                let varianceF = sff / n - (sf / n) * (sf / n)
                // Flat or dark blocks say nothing about texture; leave them out.
                guard sb / n > 8, varianceB > 16 else { continue }
                let correlation = (sfb / n - sf / n * sb / n) / (varianceB * max(varianceF, 1e-9)).squareRoot()
                ratios.append(correlation >= 0.6 ? sf / sb : -1)
            }
        }
        guard ratios.count >= 4 else { return nil }
        let textured = ratios.filter { $0 > 0 }
        var best = (gain: 1.0, support: 0)
        for candidate in textured {
            let support = textured.filter { abs($0 / candidate - 1) < 0.06 }.count
            if support > best.support { best = (candidate, support) }
        }
        guard best.support * 2 >= ratios.count else { return nil }
        let agreeing = textured.filter { abs($0 / best.gain - 1) < 0.06 }
        let gain = agreeing.reduce(0, +) / Double(agreeing.count)
        return abs(gain - 1) > 0.08 ? gain : nil
    }
}

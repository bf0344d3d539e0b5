import Config
import DoorbellCore
import JPEG
import Logging
import Motion

/// The camera pipeline's working state, owned by its task: the masker, the pre-roll, the
/// analyzer and the clips being written. Not Sendable; it never leaves the pipeline's task.
struct PipelineState {
    let settings: CameraPipelineSettings
    let store: MediaStore
    var preRoll: PreRollBuffer
    private var masker: JPEGMasker?
    private var maskSize: (width: Int, height: Int)?
    private var analyzer: FrameAnalyzer?
    private var encoder: JPEGEncoder?
    private var thumbnailer: JPEGThumbnailer?
    /// The snapshot quality, also used to encode frames that arrive as YUYV.
    var quality = 85
    private var motionID: EventID?
    private var lastUpdate: Duration?
    private var clips: [EventID: OpenClip] = [:]

    struct OpenClip {
        var writer: ClipWriter
        var started: Duration
        /// The audio written so far ends here (when the clip has an audio track).
        var audioUntil: Duration
        /// When to stop; nil while the motion that started it goes on.
        var stopAt: Duration?
    }

    init(settings: CameraPipelineSettings, store: MediaStore) {
        self.settings = settings
        self.store = store
        preRoll = PreRollBuffer(maxDuration: settings.preRoll, maxBytes: settings.preRollMaxBytes)
    }

    /// Blacks out the privacy masks in place (made for the first frame's size); a YUYV frame is
    /// masked raw, its motion plane taken from the masked luma, then encoded to JPEG so that the
    /// pre-roll, clips and snapshots hold JPEGs only. Returns the YUYV motion plane, if any.
    mutating func prepare(_ frame: inout Frame, planeRows: Int) throws -> GreyPlane? {
        if !settings.privacyMasks.isEmpty
            && (masker == nil || maskSize?.width != frame.width || maskSize?.height != frame.height)
        {
            masker = try JPEGMasker(
                mask: PrivacyMask(polygons: settings.privacyMasks, frameWidth: frame.width, frameHeight: frame.height))
            maskSize = (frame.width, frame.height)
        }
        switch frame.format {
        case .mjpeg:
            if let masker { frame.bytes = try masker.apply(frame.bytes) }
            return nil
        case .yuyv:
            if let masker { YUYV.applyMask(masker.mask, to: &frame.bytes, width: frame.width, height: frame.height) }
            let plane =
                settings.motion == nil
                ? nil : YUYV.greyPlane(frame.bytes, width: frame.width, height: frame.height, rows: planeRows)
            if encoder == nil { encoder = try JPEGEncoder() }
            frame.bytes = try encoder!.encodeYUYV(
                frame.bytes, width: frame.width, height: frame.height, quality: quality)
            frame.format = .mjpeg
            return plane
        }
    }

    mutating func analyze(_ frame: Frame, plane: GreyPlane?, wall: WallTime, logger: Logger) throws -> [MotionActivity]
    {
        guard let config = settings.motion else { return [] }
        if analyzer == nil {
            analyzer = try FrameAnalyzer(
                settings: MotionSettings(config: config, frameWidth: frame.width, frameHeight: frame.height),
                planeRows: config.planeHeight, analysisFPS: config.analysisFPS)
        }
        let analysed =
            if let plane {
                analyzer!.process(plane: plane, at: frame.timestamp)
            } else {
                try analyzer!.process(frame.bytes, at: frame.timestamp)
            }
        guard let result = analysed else { return [] }
        var activities: [MotionActivity] = []
        for event in result.events {
            switch event {
            case .started(let report):
                let id = EventID.make(epochMilliseconds: wall.epochMilliseconds)
                motionID = id
                lastUpdate = frame.timestamp
                snapshot(id, at: report.startedAt, logger: logger)
                openClip(id, from: report.startedAt, stopAt: nil, logger: logger)
                activities.append(activity(id, .started, report, wall))
            case .updated(let report):
                guard let id = motionID else { continue }
                if frame.timestamp - (lastUpdate ?? .zero) >= settings.updateInterval {
                    lastUpdate = frame.timestamp
                    activities.append(activity(id, .updated, report, wall))
                }
            case .ended(let report):
                guard let id = motionID else { continue }
                clips[id]?.stopAt = frame.timestamp + settings.postRoll
                motionID = nil
                activities.append(activity(id, .ended, report, wall))
            }
        }
        return activities
    }

    private func activity(_ id: EventID, _ phase: MotionActivity.Phase, _ report: MotionReport, _ wall: WallTime)
        -> MotionActivity
    {
        MotionActivity(
            id: id, phase: phase, monotonic: phase == .started ? report.startedAt : report.at, wall: wall,
            zones: report.zones,
            boxes: report.boxes.map { DoorbellCore.MotionBox(x: $0.x, y: $0.y, width: $0.width, height: $0.height) },
            score: report.score)
    }

    /// A ring: a snapshot now and a clip around it; a still visitor stays in the foreground.
    mutating func ring(_ id: EventID, at time: Duration, logger: Logger) {
        analyzer?.noteRing(at: time)
        snapshot(id, at: time, logger: logger)
        openClip(id, from: time, stopAt: time + settings.postRoll, logger: logger)
    }

    private mutating func snapshot(_ id: EventID, at time: Duration, logger: Logger) {
        guard let frame = preRoll.nearest(to: time), frame.format == .mjpeg else { return }
        // The notification's thumbnail first: the uplink sends it ahead of the snapshot.
        do {
            if thumbnailer == nil { thumbnailer = try JPEGThumbnailer() }
            try store.writeThumbnail(try thumbnailer!.thumbnail(frame.bytes), for: id)
        } catch {
            logger.error("Cannot store a thumbnail.", metadata: [LogKey.eventID: "\(id)", LogKey.error: "\(error)"])
        }
        do {
            try store.writeSnapshot(frame.bytes, for: id)
            settings.snapshotTap?(id, frame.bytes)
        } catch {
            logger.error("Cannot store a snapshot.", metadata: [LogKey.eventID: "\(id)", LogKey.error: "\(error)"])
        }
    }

    private mutating func openClip(_ id: EventID, from time: Duration, stopAt: Duration?, logger: Logger) {
        let earlier = preRoll.frames(since: time - settings.preRoll)
        guard let first = earlier.first else { return }
        do {
            let sealer = try store.sealer(for: id, kind: .clip)
            let writer = try ClipWriter(
                path: store.clipPath(id, sealed: sealer != nil),
                header: ClipFile.Header(
                    eventID: id.rawValue, width: first.width, height: first.height, audio: settings.audio != nil),
                sealer: sealer)
            for frame in earlier { try writer.append(frame) }
            var clip = OpenClip(writer: writer, started: first.timestamp, audioUntil: first.timestamp, stopAt: stopAt)
            try appendAudio(to: &clip)
            clips[id] = clip
        } catch {
            logger.error("Cannot start a clip.", metadata: [LogKey.eventID: "\(id)", LogKey.error: "\(error)"])
        }
    }

    /// Writes the microphone's chunks that the clip does not have yet.
    private func appendAudio(to clip: inout OpenClip) throws {
        guard let audio = settings.audio else { return }
        for chunk in audio.chunks(from: clip.audioUntil) {
            try clip.writer.appendAudio(chunk.samples, at: chunk.timestamp)
            clip.audioUntil = chunk.timestamp + AudioFormat.frameDuration
        }
    }

    mutating func recordClips(_ frame: Frame, logger: Logger) {
        for (id, var clip) in clips {
            do {
                try appendAudio(to: &clip)
                clips[id] = clip
                try clip.writer.append(frame)
            } catch {
                // A full disk or a failing card: keep what was written, as a complete clip.
                logger.error(
                    "Cannot write a clip; closing it.", metadata: [LogKey.eventID: "\(id)", LogKey.error: "\(error)"])
                finish(id, logger: logger)
            }
        }
    }

    /// Closes clips whose post-roll has passed or that reached the longest clip length.
    mutating func tick(now: Duration, logger: Logger) {
        for (id, clip) in clips where (clip.stopAt.map { now >= $0 } ?? false) || now - clip.started >= settings.clipMax
        {
            finish(id, logger: logger)
        }
    }

    mutating func finishAllClips(logger: Logger) {
        for id in clips.keys { finish(id, logger: logger) }
        motionID = nil
    }

    private mutating func finish(_ id: EventID, logger: Logger) {
        guard let clip = clips.removeValue(forKey: id) else { return }
        do {
            try clip.writer.finish()
            try store.trim()
            logger.info(
                "Clip stored.",
                metadata: [
                    LogKey.eventID: "\(id)", LogKey.file: "\(clip.writer.path)", "frames": "\(clip.writer.frameCount)",
                ])
        } catch {
            logger.error("Cannot finish a clip.", metadata: [LogKey.eventID: "\(id)", LogKey.error: "\(error)"])
        }
    }
}

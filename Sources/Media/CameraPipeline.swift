import Config
import DoorbellCore
import JPEG
import Logging
import Motion
import ServiceLifecycle
import Synchronization

/// What the camera pipeline needs from the configuration.
public struct CameraPipelineSettings: Sendable {
    public var preRoll: Duration
    public var preRollMaxBytes: Int
    public var postRoll: Duration
    public var clipMax: Duration
    public var motion: MotionConfig?
    public var privacyMasks: [FramePolygon]
    /// How often a continuing motion event is reported: rarely enough that a long event does not
    /// wear the SD card (each report is a committed outbox record).
    public var updateInterval = Duration.seconds(10)
    /// JPEG quality for snapshots and for encoding frames that arrive as YUYV.
    public var quality: Int
    public var reconnect: ClosedRange<Duration> = .milliseconds(500) ... .seconds(30)
    /// The microphone for clips' audio track, only when the owner turned on
    /// `privacy.bystander_audio`; nil (the default) makes clips silent.
    public var audio: AudioRing?
    /// Each snapshot's masked JPEG, also handed here (to the MQTT broker, only when the owner
    /// turned on `mqtt.snapshots`); called on the pipeline's task, so it must return at once.
    public var snapshotTap: (@Sendable (EventID, [UInt8]) -> Void)?

    public init(camera: CameraConfig, motion: MotionConfig, privacy: PrivacyConfig) {
        quality = camera.snapshotQuality
        preRoll = camera.preRoll
        preRollMaxBytes = camera.preRollMaxBytes
        postRoll = camera.postRoll
        clipMax = camera.clipMax
        self.motion = motion.enabled ? motion : nil
        privacyMasks = privacy.masks.map { FramePolygon(name: $0.name, points: $0.points.map { ($0.x, $0.y) }) }
    }
}

/// How many frames wait for the pipeline, and how many were dropped because too many did.
final class FrameBacklog: Sendable {
    static let maximumBacklog = 2
    private let state = Mutex<(waiting: Int, dropped: Int)>((0, 0))

    /// Whether a new frame may join the queue (counted), or is dropped (counted).
    func admit() -> Bool {
        state.withLock { state in
            guard state.waiting < Self.maximumBacklog else {
                state.dropped += 1
                return false
            }
            state.waiting += 1
            return true
        }
    }

    func done() { state.withLock { $0.waiting -= 1 } }
    var dropped: Int { state.withLock { $0.dropped } }
}

/// The camera half of the doorbell. Every frame is privacy-masked first, then offered to live
/// view, kept in the pre-roll ring, appended to any clip being recorded, and (at the analysis rate) run through
/// motion detection. Motion and rings start clips (pre-roll + event + post-roll) and snapshots in
/// the media store; motion events go to the event dispatcher. When the camera goes away the
/// pipeline reports itself degraded and reconnects with backoff; the button never waits for it.
public final class CameraPipeline: Service, MediaCapture, Sendable {
    private let source: any FrameSource
    private let settings: CameraPipelineSettings
    private let clock: any DoorbellClock
    private let health: HealthReporter
    private let events: EventDispatcher
    private let store: MediaStore
    private let logger: Logger
    private let faults: FaultLimiter
    private let tap: FrameTap?
    private let requests: AsyncStream<(EventID, Duration)>
    /// What the reconnect backoff sleeps on; tests pass a `TestClock`.
    private let timer: any Clock<Duration>
    private let requestContinuation: AsyncStream<(EventID, Duration)>.Continuation

    public init(
        source: any FrameSource, settings: CameraPipelineSettings, clock: any DoorbellClock, health: HealthReporter,
        events: EventDispatcher, store: MediaStore, logger: Logger, faults: FaultLimiter, tap: FrameTap? = nil,
        timer: any Clock<Duration> = ContinuousClock()
    ) {
        self.timer = timer
        self.tap = tap
        self.source = source
        self.settings = settings
        self.clock = clock
        self.health = health
        self.events = events
        self.store = store
        self.logger = logger
        self.faults = faults
        (requests, requestContinuation) = AsyncStream.makeStream(of: (EventID, Duration).self)
    }

    /// A ring asks for a snapshot and a clip; handled on the pipeline's own task.
    public func captureEvent(_ id: EventID, at monotonic: Duration) {
        requestContinuation.yield((id, monotonic))
    }

    private enum Input: Sendable {
        case frame(Frame)
        case ring(EventID, Duration)
        case failed(any Error)
        case tick
    }

    /// The thread the pipeline's work runs on, one for the process (see ``ThreadExecutor``).
    static let executor = ThreadExecutor(name: "porchlight-camera")

    public func run() async throws {
        try await withTaskExecutorPreference(Self.executor) { try await runOnOwnThread() }
    }

    private func runOnOwnThread() async throws {
        var backoff = Backoff(settings.reconnect)
        var state = PipelineState(settings: settings, store: store)
        state.quality = settings.quality
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let frames = try source.frames()
                faults.clear("camera.open")
                backoff.reset()
                if let failure = await consume(frames, state: &state) {
                    health.checkIn(.degraded("camera lost"))
                    logger.fault(
                        "Camera lost; reconnecting.", key: "camera.lost", limiter: faults, level: .error,
                        metadata: [LogKey.error: "\(failure)"])
                }
            } catch {
                health.checkIn(.degraded("camera not available"))
                logger.fault(
                    "Cannot open the camera; retrying.", key: "camera.open", limiter: faults, level: .error,
                    metadata: [LogKey.error: "\(error)"])
            }
            state.finishAllClips(logger: logger)
            let wait = backoff.next()
            try? await cancelWhenGracefulShutdown { try await self.timer.sleep(for: wait) }
            health.checkIn(.degraded("camera reconnecting"))
        }
        state.finishAllClips(logger: logger)
    }

    /// Processes frames and ring requests until the camera fails (returns the error) or shutdown.
    private func consume(_ frames: AsyncThrowingStream<Frame, any Error>, state: inout PipelineState) async
        -> (any Error)?
    {
        let (inputs, input) = AsyncStream.makeStream(of: Input.self)
        // Frames wait for the pipeline at most `maximumBacklog` deep: while that many wait, a new
        // frame is dropped instead of queued, so memory stays flat and an unplugged camera or a
        // ring is handled within a frame or two, not after a backlog of seconds (found by the
        // system test, where a debug build under emulation falls behind the camera).
        let backlog = FrameBacklog()
        let reader = Task { [logger, faults] in
            do {
                for try await frame in frames {
                    if backlog.admit() {
                        input.yield(.frame(frame))
                    } else {
                        logger.fault(
                            "The camera pipeline is behind the camera; dropping frames.", key: "camera.behind",
                            limiter: faults, level: .warning, metadata: ["dropped": "\(backlog.dropped)"])
                    }
                }
                input.yield(.failed(CameraStreamEnded()))
            } catch {
                input.yield(.failed(error))
            }
        }
        let rings = Task { [requests] in
            for await (id, at) in requests { input.yield(.ring(id, at)) }
        }
        // Keeps the health check-in and clip deadlines going when frames stop without an error.
        let ticker = Task {
            while (try? await Task.sleep(for: .seconds(1))) != nil { input.yield(.tick) }
        }
        defer {
            reader.cancel()
            rings.cancel()
            ticker.cancel()
        }
        var lastFrame = clock.monotonicNow()
        for await next in inputs.cancelOnGracefulShutdown() {
            let now = clock.monotonicNow()
            switch next {
            case .frame(let frame):
                backlog.done()
                lastFrame = now
                process(frame, state: &state)
                health.checkIn(.ok)
            case .ring(let id, let at):
                state.ring(id, at: at, logger: logger)
            case .failed(let error):
                return error
            case .tick:
                state.tick(now: now, logger: logger)
                health.checkIn(now - lastFrame > .seconds(5) ? .degraded("no frames") : .ok)
            }
        }
        return nil
    }

    private func process(_ input: Frame, state: inout PipelineState) {
        var frame = input
        let plane: GreyPlane?
        do {
            plane = try state.prepare(&frame, planeRows: settings.motion?.planeHeight ?? 120)
        } catch {
            // A frame that cannot be masked is dropped: an unmasked frame must never get out.
            logger.fault(
                "Dropping a frame that cannot be privacy-masked.", key: "camera.mask", limiter: faults,
                metadata: [LogKey.error: "\(error)"])
            return
        }
        tap?.offer(frame)
        state.preRoll.append(frame)
        state.recordClips(frame, logger: logger)
        do {
            for activity in try state.analyze(frame, plane: plane, wall: clock.wallNow(), logger: logger) {
                events.enqueue(.motion(activity))
            }
        } catch {
            logger.fault(
                "Cannot analyse a frame for motion.", key: "camera.analyse", limiter: faults,
                metadata: [LogKey.error: "\(error)"])
        }
        state.tick(now: frame.timestamp, logger: logger)
    }
}

/// The stream of frames ended without an error, which a camera never does on its own.
public struct CameraStreamEnded: Error, CustomStringConvertible {
    public var description: String { "the camera's frame stream ended" }
}

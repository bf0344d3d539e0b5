import Logging
import ServiceLifecycle

/// Hands events to the sink in order, off the ring path. `enqueue` never blocks; a failing sink
/// is retried with exponential backoff, so events wait here rather than being dropped. At
/// shutdown the queue gets one last delivery attempt, and anything still undelivered is logged
/// with its id. (In the daemon the sink is the durable outbox, an SQLite write that fails only
/// when its disk does.)
public final class EventDispatcher: Service, Sendable {
    private let sink: any EventSink
    private let logger: Logger
    private let faults: FaultLimiter
    private let retryInitial: Duration
    private let retryMax: Duration
    /// What the backoff sleeps on; tests pass one they move by hand.
    private let clock: any Clock<Duration>
    private let stream: AsyncStream<DoorbellEvent>
    private let continuation: AsyncStream<DoorbellEvent>.Continuation

    public init(
        sink: any EventSink, logger: Logger, faults: FaultLimiter, retryInitial: Duration = .milliseconds(200),
        retryMax: Duration = .seconds(30), clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.sink = sink
        self.logger = logger
        self.faults = faults
        self.retryInitial = retryInitial
        self.retryMax = retryMax
        self.clock = clock
        (stream, continuation) = AsyncStream.makeStream(of: DoorbellEvent.self, bufferingPolicy: .unbounded)
    }

    public func enqueue(_ event: DoorbellEvent) {
        continuation.yield(event)
    }

    public func run() async {
        await withGracefulShutdownHandler {
            for await event in stream {
                await deliver(event)
            }
        } onGracefulShutdown: {
            self.continuation.finish()
        }
    }

    private func deliver(_ event: DoorbellEvent) async {
        var delay = retryInitial
        while true {
            do {
                try await sink.deliver(event)
                faults.clear("events.sink")
                return
            } catch {
                let metadata: Logger.Metadata = [LogKey.eventID: "\(event.id)", LogKey.error: "\(error)"]
                if Task.isShuttingDownGracefully || Task.isCancelled {
                    logger.error("Event not delivered before shutdown.", metadata: metadata)
                    return
                }
                logger.fault(
                    "Cannot deliver an event; will retry.", key: "events.sink", limiter: faults, metadata: metadata)
                try? await clock.sleep(for: delay)
                delay = min(delay * 2, retryMax)
            }
        }
    }
}

/// Each event as a structured log line (PORCHLIGHT_EVENT_ID and friends in the journal), beside
/// the outbox in the daemon's sink chain, so that `journalctl` shows every ring and motion event.
public struct LogEventSink: EventSink {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func deliver(_ event: DoorbellEvent) async throws {
        var metadata: Logger.Metadata = [LogKey.eventID: "\(event.id)", LogKey.event: "\(event.kind)"]
        switch event {
        case .ring(let ring):
            metadata[LogKey.pressCount] = "\(ring.pressCount)"
            metadata[LogKey.chimeSilenced] = "\(ring.chimeSilenced)"
            logger.notice("Ring.", metadata: metadata)
        case .ringPressCount(_, let count):
            metadata[LogKey.pressCount] = "\(count)"
            logger.notice("More presses on the ring.", metadata: metadata)
        case .longPress(let press):
            if let ring = press.ringID { metadata[LogKey.ringID] = "\(ring)" }
            logger.notice("Long press.", metadata: metadata)
        case .motion(let motion):
            metadata[LogKey.zones] = "\(motion.zones.joined(separator: ","))"
            metadata[LogKey.boxes] = "\(motion.boxes.count)"
            let message: Logger.Message =
                switch motion.phase {
                case .started: "Motion started."
                case .updated: "Motion continues."
                case .ended: "Motion ended."
                }
            logger.notice(message, metadata: metadata)
        case .mediaEvicted(let eviction):
            metadata[LogKey.media] = "\(eviction.media.id)"
            metadata[LogKey.reason] = "\(eviction.reason)"
            logger.warning("Media deleted before upload.", metadata: metadata)
        }
    }
}

/// Hands each event to several sinks in order, stopping at the first that fails (the dispatcher
/// then retries the whole chain): the durable outbox first, then the log.
public struct EventSinkChain: EventSink {
    let sinks: [any EventSink]

    public init(_ sinks: [any EventSink]) {
        self.sinks = sinks
    }

    public func deliver(_ event: DoorbellEvent) async throws {
        for sink in sinks { try await sink.deliver(event) }
    }
}

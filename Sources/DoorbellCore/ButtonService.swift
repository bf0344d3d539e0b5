import Logging
import ServiceLifecycle

/// Presses that did not come from the wire: `porchlightctl ring`, the demo's simulated visitor.
/// They go through the same debounce, rate limit and chime path as real edges. Presses are played
/// one after another, each held for its `hold` and followed by as long released, and each edge
/// carries the time it was made (as the kernel stamps a real one): two rings asked for at once are
/// two presses however late the button service gets to them, never one merged by the debounce.
public final class ButtonSimulator: Sendable {
    let stream: AsyncStream<ButtonEdge>
    private let presses: AsyncStream<Duration>.Continuation

    public init(clock: any DoorbellClock = SystemClock()) {
        let (stream, edges) = AsyncStream.makeStream(of: ButtonEdge.self)
        let (requests, presses) = AsyncStream.makeStream(of: Duration.self)
        self.stream = stream
        self.presses = presses
        // Plays the presses in order; it ends when the simulator goes (deinit finishes `presses`).
        Task {
            for await hold in requests {
                edges.yield(ButtonEdge(.pressed, at: clock.monotonicNow()))
                try? await Task.sleep(for: hold)
                edges.yield(ButtonEdge(.released, at: clock.monotonicNow()))
                try? await Task.sleep(for: hold)
            }
            edges.finish()
        }
    }

    deinit {
        presses.finish()
    }

    /// A press, held for `hold`, after any presses still playing.
    public func press(hold: Duration = .milliseconds(120)) {
        presses.yield(hold)
    }
}

/// Runs the button: reads edges from the source, applies ``ButtonLogic`` with its timers, and
/// hands each decision to `handle` (the engine) on the spot. If the line fails later, the
/// service reports the button as degraded and reopens it with backoff; a line that cannot be
/// opened at start is a startup error.
public struct ButtonService: Service {
    let source: any ButtonSource
    let settings: ButtonLogic.Settings
    let clock: any DoorbellClock
    let health: HealthReporter
    let simulator: ButtonSimulator?
    let logger: Logger
    let faults: FaultLimiter
    let handle: @Sendable (ButtonOutput) -> Void
    /// How often the service checks in while the button is idle.
    let heartbeat: Duration
    let reopenBackoff: ClosedRange<Duration>

    public init(
        source: any ButtonSource, settings: ButtonLogic.Settings, clock: any DoorbellClock, health: HealthReporter,
        simulator: ButtonSimulator? = nil, logger: Logger, faults: FaultLimiter, heartbeat: Duration = .seconds(1),
        reopenBackoff: ClosedRange<Duration> = .milliseconds(500) ... .seconds(30),
        handle: @escaping @Sendable (ButtonOutput) -> Void
    ) {
        self.source = source
        self.settings = settings
        self.clock = clock
        self.health = health
        self.simulator = simulator
        self.logger = logger
        self.faults = faults
        self.heartbeat = heartbeat
        self.reopenBackoff = reopenBackoff
        self.handle = handle
    }

    private enum Input: Sendable {
        case edge(ButtonEdge)
        case simulated(ButtonEdge)
        case tick
        case lineFailed(any Error)
    }

    public func run() async throws {
        var logic = ButtonLogic(settings: settings)
        var edges = try source.edges()
        health.checkIn(.ok)
        var backoff = Backoff(reopenBackoff)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if let failure = await consume(edges, logic: &logic) {
                health.checkIn(.degraded("line failed"))
                logger.fault(
                    "Button line failed; reopening.", key: "button.failed", limiter: faults, level: .error,
                    metadata: [LogKey.error: "\(failure)"])
            } else {
                return  // shutdown
            }
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let wait = backoff.next()
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                health.checkIn(.degraded("reopening line"))
                do {
                    edges = try source.edges()
                    logic = ButtonLogic(settings: settings)
                    backoff.reset()
                    faults.clear("button.failed")
                    logger.notice("Button line reopened.")
                    health.checkIn(.ok)
                    break
                } catch {
                    logger.fault(
                        "Cannot reopen the button line.", key: "button.reopen", limiter: faults, level: .error,
                        metadata: [LogKey.error: "\(error)"])
                }
            }
        }
    }

    /// Feeds edges, simulated presses and timer ticks to the logic until the line fails (returns
    /// the error) or shutdown begins (returns nil).
    private func consume(_ edges: AsyncThrowingStream<ButtonEdge, any Error>, logic: inout ButtonLogic) async
        -> (any Error)?
    {
        let (inputs, input) = AsyncStream.makeStream(of: Input.self)
        let reader = Task {
            do {
                for try await edge in edges { input.yield(.edge(edge)) }
                input.yield(.lineFailed(ButtonLineEnded()))
            } catch {
                input.yield(.lineFailed(error))
            }
        }
        let simulated = Task { [simulator] in
            guard let simulator else { return }
            for await edge in simulator.stream { input.yield(.simulated(edge)) }
        }
        var timer: Task<Void, Never>?
        defer {
            reader.cancel()
            simulated.cancel()
            timer?.cancel()
        }
        input.yield(.tick)
        for await next in inputs.cancelOnGracefulShutdown() {
            let outputs: [ButtonOutput]
            switch next {
            case .edge(let edge): outputs = logic.handle(edge)
            case .simulated(let edge): outputs = logic.handle(edge)
            case .tick: outputs = logic.advance(to: clock.monotonicNow())
            case .lineFailed(let error): return error
            }
            for output in outputs { handle(output) }
            health.checkIn(.ok)

            timer?.cancel()
            let now = clock.monotonicNow()
            let wake = min(logic.nextDeadline ?? (now + heartbeat), now + heartbeat)
            timer = Task {
                guard (try? await Task.sleep(for: max(wake - now, .zero))) != nil else { return }
                input.yield(.tick)
            }
        }
        return nil
    }
}

/// The edge stream ended without an error, which a GPIO line never does on its own.
public struct ButtonLineEnded: Error, CustomStringConvertible {
    public var description: String { "the button's edge stream ended" }
}

/// A button with no wire, for demos and tests: its line never has an edge, so presses come only
/// from the ``ButtonSimulator``.
public struct UnwiredButton: ButtonSource {
    public init() {}

    public func edges() throws -> AsyncThrowingStream<ButtonEdge, any Error> {
        AsyncThrowingStream { _ in }
    }
}

/// The demo's visitor: presses the button every `interval`.
public struct SimulatedVisitor: Service {
    let simulator: ButtonSimulator
    let interval: Duration

    public init(simulator: ButtonSimulator, interval: Duration) {
        self.simulator = simulator
        self.interval = interval
    }

    public func run() async throws {
        while (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: interval) })) != nil {
            simulator.press()
        }
    }
}

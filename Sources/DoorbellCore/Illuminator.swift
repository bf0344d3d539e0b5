import Logging
import ServiceLifecycle
import Synchronization

/// IR LEDs for night vision, switched through a transistor on a GPIO output: on during daily
/// spans of local time (`[ir] on_hours`) or from civil dusk to dawn (`schedule = "dark"`). The
/// schedule is checked every `interval`, so a change of the hour or of the schedule (a reload)
/// applies within it; the LEDs go off when the daemon stops, so they never stay on without it.
public final class Illuminator: Service, Sendable {
    private let output: any DigitalOutput
    private let clock: any DoorbellClock
    private let interval: Duration
    private let logger: Logger
    private let faults: FaultLimiter
    private let state: Mutex<(schedule: IRSchedule, lit: Bool?)>

    public init(
        output: any DigitalOutput, schedule: IRSchedule, clock: any DoorbellClock,
        interval: Duration = .seconds(20), logger: Logger, faults: FaultLimiter
    ) {
        self.output = output
        self.clock = clock
        self.interval = interval
        self.logger = logger
        self.faults = faults
        state = Mutex((schedule, nil))
    }

    /// Replaces the schedule, as a configuration reload does; applied at once.
    public func setSchedule(_ schedule: IRSchedule) {
        state.withLock { $0.schedule = schedule }
        update()
    }

    /// Whether the LEDs are lit now, or nil before the first switch.
    public var isLit: Bool? { state.withLock { $0.lit } }

    /// Drives the output to what the schedule says for the current minute. The line is set again
    /// after a failure, so a transient error heals at the next check.
    public func update() {
        let now = clock.wallNow()
        let (wanted, changed) = state.withLock { state -> (Bool, Bool) in
            let wanted = state.schedule.isOn(at: now)
            return (wanted, state.lit != wanted)
        }
        guard changed else { return }
        switchLEDs(on: wanted)
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            update()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
        switchLEDs(on: false)
    }

    private func switchLEDs(on: Bool) {
        do {
            try output.set(active: on)
            let was = state.withLock { state -> Bool? in
                defer { state.lit = on }
                return state.lit
            }
            if was != on {
                logger.notice(on ? "IR illuminator on." : "IR illuminator off.")
            }
        } catch {
            state.withLock { $0.lit = nil }
            logger.fault(
                "Cannot switch the IR illuminator.", key: "ir", limiter: faults, level: .error,
                metadata: [LogKey.error: "\(error)"])
        }
    }
}

import Synchronization

/// What a component says about itself when it checks in.
public enum HealthState: Sendable, Equatable {
    /// Opening its hardware; the daemon is not ready until no component is starting.
    case starting
    case ok
    /// Running without its hardware or peer (camera unplugged, sync module down). Still alive:
    /// a degraded component keeps checking in, so the watchdog keeps the daemon running.
    case degraded(String)
}

/// One component's last word, as the status line and the health report show it.
public struct ComponentHealth: Sendable, Equatable {
    public var name: String
    public var state: HealthState
    public var lastCheckIn: ContinuousClock.Instant
    /// How long the component may stay silent before it counts as stalled.
    public var deadline: Duration

    public func isStalled(at now: ContinuousClock.Instant) -> Bool {
        now - lastCheckIn > deadline
    }
}

/// Where every pipeline checks in. The watchdog feeds systemd only while no component is stalled,
/// so a hung pipeline gets the daemon restarted; READY=1 waits until no component is starting.
public final class HealthRegistry: Sendable {
    private struct State {
        var components: [ComponentHealth] = []
        var readyWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
        var isStarted: Bool { components.allSatisfy { $0.state != .starting } }
    }

    private let state = Mutex(State())

    public init() {}

    /// Registers a component that must check in at least once per `deadline`.
    public func register(_ name: String, deadline: Duration, now: ContinuousClock.Instant = .now) -> HealthReporter {
        state.withLock { state in
            precondition(!state.components.contains { $0.name == name }, "component \(name) registered twice")
            state.components.append(ComponentHealth(name: name, state: .starting, lastCheckIn: now, deadline: deadline))
        }
        return HealthReporter(registry: self, name: name)
    }

    fileprivate func checkIn(_ name: String, _ newState: HealthState, now: ContinuousClock.Instant) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard let index = state.components.firstIndex(where: { $0.name == name }) else { return [] }
            state.components[index].state = newState
            state.components[index].lastCheckIn = now
            guard state.isStarted else { return [] }
            defer { state.readyWaiters = [:] }
            return Array(state.readyWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once every registered component has left `.starting`, or when the task is
    /// cancelled (a component failed to start and the group is going down).
    public func waitUntilStarted() async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.isStarted || Task.isCancelled { return true }
                    state.readyWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.readyWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    public func snapshot() -> [ComponentHealth] {
        state.withLock { $0.components }
    }

    /// The names of components that have missed their deadline.
    public func stalled(at now: ContinuousClock.Instant = .now) -> [String] {
        snapshot().filter { $0.isStalled(at: now) }.map(\.name)
    }

    /// One line for systemd's STATUS=: what runs, what is degraded and why, what is stalled.
    public func statusLine(at now: ContinuousClock.Instant = .now) -> String {
        var running: [String] = []
        var other: [String] = []
        for component in snapshot() {
            if component.isStalled(at: now) {
                other.append("\(component.name) stalled")
                continue
            }
            switch component.state {
            case .ok: running.append(component.name)
            case .starting: other.append("\(component.name) starting")
            case .degraded(let reason): other.append("\(component.name) degraded (\(reason))")
            }
        }
        var parts: [String] = []
        if !running.isEmpty { parts.append("running: " + running.joined(separator: ", ")) }
        parts.append(contentsOf: other)
        return parts.isEmpty ? "no components" : parts.joined(separator: "; ")
    }
}

/// A component's handle for checking in. Cheap to copy; each pipeline keeps one.
public struct HealthReporter: Sendable {
    let registry: HealthRegistry
    public let name: String

    public func checkIn(_ state: HealthState = .ok, now: ContinuousClock.Instant = .now) {
        registry.checkIn(name, state, now: now)
    }
}

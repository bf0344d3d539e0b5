import DoorbellCore
import Synchronization

/// A one-shot timer that only the test moves: work runs, in order, inside `advance(by:)` when it
/// becomes due, so a pulse's length is asserted exactly, however busy the machine is.
public final class ManualTimer: OneShotTimer {
    private struct Pending {
        var due: Duration
        var order: Int
        var work: @Sendable () -> Void
    }

    private let state = Mutex((now: Duration.zero, pending: [Pending](), scheduled: 0))

    public init() {}

    public func after(_ delay: Duration, _ work: @escaping @Sendable () -> Void) {
        state.withLock { state in
            state.pending.append(Pending(due: state.now + delay, order: state.scheduled, work: work))
            state.scheduled += 1
        }
    }

    /// When the scheduled work falls due, from now, earliest first.
    public var pending: [Duration] { state.withLock { state in state.pending.map { $0.due - state.now }.sorted() } }

    /// Moves time on, running each piece of work that falls due (earliest first) outside the lock.
    public func advance(by duration: Duration) {
        let due = state.withLock { state -> [Pending] in
            state.now += duration
            let now = state.now
            let due = state.pending.filter { $0.due <= now }.sorted { ($0.due, $0.order) < ($1.due, $1.order) }
            state.pending.removeAll { $0.due <= now }
            return due
        }
        for pending in due { pending.work() }
    }
}

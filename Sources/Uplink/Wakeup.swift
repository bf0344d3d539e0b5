import Synchronization

/// A one-waiter wake-up: `signal` wakes the waiter, or the next `wait` if nobody waits yet.
/// Unlike an AsyncStream, a wait that times out leaves it usable.
public final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    public init() {}

    public func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns after a signal, after `timeout` on `clock`, or when the task is cancelled,
    /// whichever comes first.
    public func wait(upTo timeout: Duration, on clock: any Clock<Duration> = ContinuousClock()) async {
        let timer = Task { [self] in
            guard (try? await clock.sleep(for: timeout)) != nil else { return }
            signal()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
        timer.cancel()
    }
}

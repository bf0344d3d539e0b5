import Foundation

/// Polls `condition` every few milliseconds until it holds or `timeout` passes. The timeout only
/// bounds a failure: a test that passes returns as soon as the condition holds. It is generous
/// because a parallel run starts every suite at once on two cores, and for its first seconds
/// anything can take ten times as long as it does alone.
public func eventually(timeout: Duration = .seconds(30), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(2))
    }
    return true
}

/// Polls an asynchronous `condition` every `poll` until it holds or `timeout` passes.
public func eventually(
    timeout: Duration = .seconds(30), poll: Duration = .milliseconds(100), _ condition: () async -> Bool
) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while await !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: poll)
    }
    return true
}

/// Runs CPU-heavy test work (a debug build's signal synthesis, a long analysis) on a thread of
/// its own and waits for it without holding a thread of Swift's cooperative pool. The pool has
/// one thread per core, two here: two tests computing on it at once stalled every other test's
/// timers and sockets for most of a minute, and their deadlines ran out.
public func offThePool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: work()) }
        thread.name = "test work"
        thread.start()
    }
}

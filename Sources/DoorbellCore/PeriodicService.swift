import ServiceLifecycle

/// Runs `work` at start and then every `interval`, until shutdown: housekeeping such as
/// retention sweeps.
public struct PeriodicService: Service {
    let interval: Duration
    let work: @Sendable () -> Void

    public init(every interval: Duration, _ work: @escaping @Sendable () -> Void) {
        self.interval = interval
        self.work = work
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            work()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

extension Clock where Duration == Swift.Duration {
    /// The time since now on this clock, read whenever asked: lets a loop that sleeps on an
    /// injected clock (a `TestClock` in tests) keep its deadlines on the same clock.
    public func stopwatch() -> @Sendable () -> Swift.Duration {
        let start = now
        return { start.duration(to: self.now) }
    }
}

import DoorbellCore
import Logging
import ServiceLifecycle

/// Keeps systemd informed: READY=1 once every component has started, STATUS= whenever the
/// one-line summary changes, WATCHDOG=1 at half the watchdog period while no component is
/// stalled, and STOPPING=1 on shutdown. A stalled pipeline stops the pings, so systemd restarts
/// the daemon instead of leaving a doorbell that looks alive but does nothing.
public struct SystemdService: Service {
    let notifier: Notifier
    let registry: HealthRegistry
    let watchdogInterval: Duration?
    let statusInterval: Duration
    let logger: Logger
    let faults: FaultLimiter
    /// What the watchdog and status loops sleep on; tests pass one they move by hand.
    let clock: any Clock<Duration>

    public init(
        notifier: Notifier, registry: HealthRegistry, watchdogInterval: Duration?,
        statusInterval: Duration = .seconds(1), logger: Logger, faults: FaultLimiter,
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.notifier = notifier
        self.registry = registry
        self.watchdogInterval = watchdogInterval
        self.statusInterval = statusInterval
        self.logger = logger
        self.faults = faults
        self.clock = clock
    }

    public func run() async throws {
        await untilGracefulShutdown { await registry.waitUntilStarted() }
        guard !Task.isCancelled, !Task.isShuttingDownGracefully else { return }
        let initialStatus = registry.statusLine()
        send(["READY=1", "STATUS=\(initialStatus)"])
        logger.info("Ready.", metadata: [LogKey.state: "\(initialStatus)"])

        await withTaskGroup(of: Void.self) { group in
            if let watchdogInterval {
                group.addTask { await pingWatchdog(every: watchdogInterval) }
            }
            group.addTask {
                var status = initialStatus
                while (try? await clock.sleep(for: statusInterval)) != nil {
                    let current = registry.statusLine()
                    if current != status {
                        status = current
                        send(["STATUS=\(status)"])
                    }
                }
            }
            await gracefulShutdownSignal()
            group.cancelAll()
        }
        send(["STOPPING=1", "STATUS=Shutting down."])
    }

    private func pingWatchdog(every interval: Duration) async {
        while (try? await clock.sleep(for: interval)) != nil {
            let stalled = registry.stalled()
            if stalled.isEmpty {
                faults.clear("watchdog.stalled")
                send(["WATCHDOG=1"])
            } else {
                logger.fault(
                    "Not feeding the watchdog: a pipeline stopped checking in.", key: "watchdog.stalled",
                    limiter: faults, level: .error, metadata: [LogKey.component: "\(stalled.joined(separator: ","))"])
            }
        }
    }

    private func send(_ assignments: [String]) {
        do {
            try notifier.notify(assignments)
        } catch {
            logger.fault(
                "Cannot notify systemd.", key: "systemd.notify", limiter: faults,
                metadata: [LogKey.error: "\(error)"])
        }
    }
}

/// Runs `body` until it returns or graceful shutdown begins, whichever comes first.
func untilGracefulShutdown(_ body: @Sendable @escaping () async -> Void) async {
    try? await cancelWhenGracefulShutdown { () async throws -> Void in await body() }
}

/// Suspends until graceful shutdown begins or the task is cancelled.
func gracefulShutdownSignal() async {
    try? await gracefulShutdown()
}

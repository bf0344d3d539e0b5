import DoorbellCore
import Logging
import ServiceLifecycle
import UnixSignals

/// What a reload did, for the log and STATUS=.
public enum ReloadOutcome: Sendable, Equatable {
    case applied
    /// The new configuration was rejected; the old one stays in force.
    case rejected(errorCount: Int)
}

/// Reloads on SIGHUP, wrapped in RELOADING=1 … READY=1 as `Type=notify-reload` expects. The
/// signal sequence is made by the caller before the group starts, so that a SIGHUP that arrives
/// early is queued instead of killing the process with the default action.
public struct ReloadService: Service {
    let hangups: UnixSignalsSequence
    let notifier: Notifier
    let logger: Logger
    let reload: @Sendable () async -> ReloadOutcome

    public init(
        hangups: UnixSignalsSequence, notifier: Notifier, logger: Logger,
        reload: @escaping @Sendable () async -> ReloadOutcome
    ) {
        self.hangups = hangups
        self.notifier = notifier
        self.logger = logger
        self.reload = reload
    }

    public func run() async throws {
        for await _ in hangups.cancelOnGracefulShutdown() {
            send(["RELOADING=1", "MONOTONIC_USEC=\(Notifier.monotonicMicroseconds())"])
            let status: String
            switch await reload() {
            case .applied:
                status = "Configuration reloaded."
            case .rejected(let count):
                status = "Reload rejected: \(count) configuration error(s); the previous configuration stays in force."
            }
            send(["READY=1", "STATUS=\(status)"])
        }
    }

    private func send(_ assignments: [String]) {
        do {
            try notifier.notify(assignments)
        } catch {
            logger.warning("Cannot notify systemd.", metadata: [LogKey.error: "\(error)"])
        }
    }
}

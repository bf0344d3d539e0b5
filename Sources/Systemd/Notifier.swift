#if canImport(Glibc)
    import Glibc
#endif

/// Talks to the service manager with the sd_notify protocol: newline-separated `KEY=value`
/// assignments in one datagram to `$NOTIFY_SOCKET`. Implemented here rather than through
/// libsystemd's `sd_notify` so that tests can point it at a socket of their own.
public struct Notifier: Sendable {
    private let sender: UnixDatagramSender?

    /// A notifier for `socketPath`; `nil` gives one that does nothing, for runs outside systemd.
    public init(socketPath: String?) throws(SystemCallError) {
        guard let socketPath, !socketPath.isEmpty else {
            sender = nil
            return
        }
        sender = try UnixDatagramSender(path: socketPath)
    }

    /// The notifier for `$NOTIFY_SOCKET`.
    public static func fromEnvironment() throws(SystemCallError) -> Notifier {
        try Notifier(socketPath: getenv("NOTIFY_SOCKET").map { String(cString: $0) })
    }

    public var isEnabled: Bool { sender != nil }

    /// Sends the assignments, e.g. `["READY=1", "STATUS=running"]`.
    public func notify(_ assignments: [String]) throws(SystemCallError) {
        guard let sender else { return }
        try sender.send(Array(assignments.joined(separator: "\n").utf8))
    }

    /// CLOCK_MONOTONIC in microseconds, as RELOADING=1 wants in MONOTONIC_USEC.
    public static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    /// Half the watchdog period that systemd set (`WATCHDOG_USEC`), if it is meant for this
    /// process (`WATCHDOG_PID`, when set, is ours). The corresponding C function is
    /// `sd_watchdog_enabled`.
    public static func watchdogInterval(environment: [String: String]) -> Duration? {
        if let pid = environment["WATCHDOG_PID"], Int32(pid) != getpid() { return nil }
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        return .microseconds(Int64(usec / 2))
    }
}

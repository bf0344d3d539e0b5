import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Readable lines on stderr, for a daemon started by hand or under a process manager other than
/// systemd: `2026-11-24T22:44:44.123Z warning porchlightd: Camera lost. device=/dev/video0`.
public struct ConsoleLogHandler: LevelSharingLogHandler {
    let label: String
    let level: SharedLogLevel
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String, level: SharedLogLevel) {
        self.label = label
        self.level = level
    }

    public func log(event: LogEvent) {
        var line = "\(Self.timestamp()) \(event.level) \(label): \(event.message)"
        for (key, value) in fields(for: event) {
            line += " \(key)=\(value)"
        }
        line += "\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }

    /// UTC, to the millisecond.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let millis = Int(now.tv_nsec / 1_000_000)
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(ms)Z"
    }
}

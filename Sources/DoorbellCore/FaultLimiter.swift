import Logging
import Synchronization

/// Rate-limits a fault that repeats, so that a camera gone missing at 15 fps produces one log line
/// a minute instead of fifteen a second. Each fault has a key; the first occurrence is logged at
/// once, later ones at most once per interval with the count of those suppressed in between.
public final class FaultLimiter: Sendable {
    private struct Entry {
        var lastLogged: ContinuousClock.Instant
        var suppressed: Int
    }

    private let interval: Duration
    private let entries = Mutex<[String: Entry]>([:])

    public init(interval: Duration) {
        self.interval = interval
    }

    /// Whether to log this occurrence of `key` now, and how many occurrences were suppressed since
    /// the last one logged.
    public func admit(_ key: String, now: ContinuousClock.Instant = .now) -> (log: Bool, suppressed: Int) {
        entries.withLock { entries in
            guard var entry = entries[key] else {
                entries[key] = Entry(lastLogged: now, suppressed: 0)
                return (true, 0)
            }
            guard now - entry.lastLogged >= interval else {
                entry.suppressed += 1
                entries[key] = entry
                return (false, entry.suppressed)
            }
            let suppressed = entry.suppressed
            entries[key] = Entry(lastLogged: now, suppressed: 0)
            return (true, suppressed)
        }
    }

    /// Forgets `key`, so that the next occurrence after a recovery is logged at once.
    public func clear(_ key: String) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }
}

extension Logger {
    /// Logs a repeating fault through `limiter`, adding the number of suppressed repeats.
    public func fault(
        _ message: @autoclosure () -> Logger.Message,
        key: String,
        limiter: FaultLimiter,
        level: Logger.Level = .warning,
        metadata: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        let (shouldLog, suppressed) = limiter.admit(key)
        guard shouldLog else { return }
        var fields = metadata()
        if suppressed > 0 { fields[LogKey.suppressed] = "\(suppressed)" }
        log(level: level, message(), metadata: fields, file: file, function: function, line: line)
    }
}

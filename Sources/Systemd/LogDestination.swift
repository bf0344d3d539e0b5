import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Where log lines go.
public enum LogDestination: Sendable, Equatable {
    case journal(socketPath: String)
    case console

    /// `auto`, `journal` or `console`, as the configurations spell them.
    public static func choose(_ name: String, environment: [String: String]) -> LogDestination {
        switch name {
        case "journal": .journal(socketPath: JournalLogHandler.defaultSocket)
        case "console": .console
        default: detect(environment: environment)
        }
    }

    /// The journal when systemd connected stderr to it (`JOURNAL_STREAM` names stderr's device and
    /// inode, as systemd.exec(5) describes), the console otherwise.
    public static func detect(environment: [String: String]) -> LogDestination {
        guard let stream = environment["JOURNAL_STREAM"] else { return .console }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return .console }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return .console }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
            ? .journal(socketPath: JournalLogHandler.defaultSocket) : .console
    }
}

/// Sends every logger to the journal or the console, each reading the shared level.
public enum LoggingSetup {
    public static func bootstrap(target: LogDestination, identifier: String, level: SharedLogLevel) {
        LoggingSystem.bootstrap { label in
            switch target {
            case .journal(let socketPath):
                JournalLogHandler(label: label, identifier: identifier, socketPath: socketPath, level: level)
            case .console:
                ConsoleLogHandler(label: label, level: level)
            }
        }
    }
}

/// The process environment as a dictionary, without Foundation.
public func processEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var entry = environ
    while let pointer = entry.pointee {
        let text = String(cString: pointer)
        if let equals = text.firstIndex(of: "=") {
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        entry += 1
    }
    return result
}

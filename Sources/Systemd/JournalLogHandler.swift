import DoorbellCore
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A swift-log handler that writes journald's native protocol: one datagram per entry holding
/// `FIELD=value` lines (or, for values with a newline, the field name, a little-endian 64-bit
/// length and the raw bytes). Fields: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, CODE_FILE,
/// CODE_LINE, CODE_FUNC, PORCHLIGHT_LOGGER and each metadata key as `PORCHLIGHT_<KEY>`.
/// If the journal cannot take an entry the line goes to stderr, which systemd also collects.
public struct JournalLogHandler: LevelSharingLogHandler {
    public static let defaultSocket = "/run/systemd/journal/socket"
    /// Datagrams larger than this need a memfd; messages are cut to stay well below it.
    static let maximumMessageBytes = 48 << 10

    let label: String
    let identifier: String
    let sender: UnixDatagramSender?
    let level: SharedLogLevel
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String, identifier: String, socketPath: String = Self.defaultSocket, level: SharedLogLevel) {
        self.label = label
        self.identifier = identifier
        self.level = level
        self.sender = try? UnixDatagramSender(path: socketPath)
    }

    public func log(event: LogEvent) {
        var entry = JournalEntry()
        entry.append("MESSAGE", String(String(describing: event.message).utf8.prefix(Self.maximumMessageBytes)) ?? "")
        entry.append("PRIORITY", "\(Self.priority(event.level))")
        entry.append("SYSLOG_IDENTIFIER", identifier)
        entry.append("CODE_FILE", event.file)
        entry.append("CODE_LINE", "\(event.line)")
        entry.append("CODE_FUNC", event.function)
        entry.append("PORCHLIGHT_LOGGER", label)
        for (key, value) in fields(for: event) {
            entry.append(Self.fieldName(key), "\(value)")
        }
        do {
            guard let sender else {
                throw SystemCallError(action: "open", object: "the journal socket", errno: .noSuchFileOrDirectory)
            }
            try sender.send(entry.bytes)
        } catch {
            let line = "<\(Self.priority(event.level))>\(event.message)\n"
            _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        }
    }

    /// syslog priorities: 2 critical, 3 error, 4 warning, 5 notice, 6 info, 7 debug.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// A valid journald field name for a metadata key: `PORCHLIGHT_` followed by the key in
    /// upper case, with every character outside A–Z and 0–9 turned into `_`, at most 64 bytes.
    /// swift-service-lifecycle's `sl-service` becomes `PORCHLIGHT_SL_SERVICE`.
    public static func fieldName(_ key: String) -> String {
        var name = "PORCHLIGHT_"
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"): name.append(Character(UnicodeScalar(byte - 32)))
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                name.append(Character(UnicodeScalar(byte)))
            default: name.append("_")
            }
        }
        return String(name.prefix(64))
    }
}

/// One journal entry in the native serialization.
struct JournalEntry {
    private(set) var bytes: [UInt8] = []

    mutating func append(_ name: String, _ value: String) {
        bytes.append(contentsOf: name.utf8)
        if value.utf8.contains(UInt8(ascii: "\n")) {
            bytes.append(UInt8(ascii: "\n"))
            withUnsafeBytes(of: UInt64(value.utf8.count).littleEndian) { bytes.append(contentsOf: $0) }
        } else {
            bytes.append(UInt8(ascii: "="))
        }
        bytes.append(contentsOf: value.utf8)
        bytes.append(UInt8(ascii: "\n"))
    }
}

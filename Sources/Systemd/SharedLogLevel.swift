import Logging
import Synchronization

/// The log level every handler reads, so that a reload can change it after bootstrap.
public final class SharedLogLevel: Sendable {
    private let storage: Mutex<Logger.Level>

    public init(_ level: Logger.Level) {
        storage = Mutex(level)
    }

    public var value: Logger.Level {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// What the journal and console handlers share: a level read from ``SharedLogLevel`` and the
/// usual metadata layering (handler, then provider, then the call's own, later ones winning).
protocol LevelSharingLogHandler: LogHandler {
    var level: SharedLogLevel { get }
}

extension LevelSharingLogHandler {
    public var logLevel: Logger.Level {
        get { level.value }
        set { level.value = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Every metadata field for `event`, sorted by key for stable output.
    func fields(for event: LogEvent) -> [(key: String, value: Logger.MetadataValue)] {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        return fields.sorted { $0.key < $1.key }
    }
}

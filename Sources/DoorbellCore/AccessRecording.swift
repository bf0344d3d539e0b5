import Logging

/// One access the doorbell records: what happened, who asked, a detail and from where
/// (docs/privacy.md, "Access log").
public struct AccessNote: Sendable, Equatable {
    /// `live-view`, `live-view-end`, `talk`, `talk-end`, `quick-reply`, `snapshot`, `config`,
    /// `pairing`, `key-change`, `key-pin`, `key-reset`, `retention-delete`, `command-refused`.
    public var action: String
    /// `owner key <id> (<label>)` for a command the owner signed, else who asked (`sync module`,
    /// `console`, `retention`).
    public var actor: String
    public var detail: String
    public var source: String

    public init(_ action: String, actor: String, detail: String = "", source: String) {
        self.action = action
        self.actor = actor
        self.detail = detail
        self.source = source
    }
}

/// Where the doorbell's accesses go: its signed log, mirrored to the sync module, and the journal
/// with structured fields. Call sites say what happened in their own words.
public protocol AccessRecording: Sendable {
    func record(_ message: Logger.Message, _ note: AccessNote)
}

extension Logger {
    /// The journal's side of an access: `PORCHLIGHT_ACCESS`, `_ACTOR`, `_DETAIL` and `_SOURCE`,
    /// plus whatever the log adds (its sequence number).
    public func access(_ message: Logger.Message, _ note: AccessNote, metadata extra: Logger.Metadata = [:]) {
        var metadata: Logger.Metadata = [
            LogKey.access: "\(note.action)", LogKey.accessActor: "\(note.actor)", LogKey.accessSource: "\(note.source)",
        ]
        if !note.detail.isEmpty { metadata[LogKey.accessDetail] = "\(note.detail)" }
        notice(message, metadata: metadata.merging(extra) { _, new in new })
    }
}

/// Only the journal: for code run without a doorbell identity (tests, benchmarks).
public struct JournalAccess: AccessRecording {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func record(_ message: Logger.Message, _ note: AccessNote) {
        logger.access(message, note)
    }
}

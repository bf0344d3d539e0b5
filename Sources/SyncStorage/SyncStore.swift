import Foundation
import SyncProtocol

/// A paired doorbell as the sync module knows it.
public struct DeviceRecord: Sendable, Equatable {
    public var id: String
    public var publicKey: Data
    public var name: String
    public var pairedAt: Int64
    public var revokedAt: Int64?
    public var lastSeenAt: Int64?
}

/// An event as stored: the wire record plus who sent it and when it arrived.
public struct StoredEvent: Sendable, Equatable {
    public var sequence: Int64
    public var deviceID: String
    public var event: WireEvent
    public var receivedAt: Int64
}

/// A snapshot or clip the sync module holds or is receiving. The bytes are a file in the media
/// folder; the store keeps what the timeline needs.
public struct MediaRecord: Sendable, Equatable {
    public var deviceID: String
    public var mediaID: String
    public var eventID: String
    public var kind: MediaKind
    public var size: Int
    /// Hex SHA-256 of the whole file, as the doorbell announced it.
    public var sha256: String
    public var createdAt: Int64
    public var completedAt: Int64?

    public init(
        deviceID: String, mediaID: String, eventID: String, kind: MediaKind, size: Int, sha256: String,
        createdAt: Int64,
        completedAt: Int64? = nil
    ) {
        self.deviceID = deviceID
        self.mediaID = mediaID
        self.eventID = eventID
        self.kind = kind
        self.size = size
        self.sha256 = sha256
        self.createdAt = createdAt
        self.completedAt = completedAt
    }
}

/// What an ingest did: every key of the batch the store now holds, and the events that are new.
public struct IngestResult: Sendable, Equatable {
    public var accepted: [String]
    public var stored: [StoredEvent]
}

/// Why a pairing code was refused.
public enum PairingFailure: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownCode
    case expiredCode
    case usedCode

    public var description: String {
        switch self {
        case .unknownCode: "this pairing code is not valid"
        case .expiredCode: "this pairing code has expired; make a new one with `porchlight-sync pair-code`"
        case .usedCode: "this pairing code has already been used"
        }
    }
}

/// Everything the sync module keeps, as its server needs it. `SyncAPI` and `WebApp` take the
/// store by this type, so a store without one of the parts does not compile; before, a cast
/// that failed skipped a pairing's access-log entry without a word.
public typealias HubStore =
    SyncStore & OwnerStore & OwnerKeyStore & TalkKeyStore & AccessLogStore & ShareStore & PushSubscriptionStore

/// The sync module's storage, behind a protocol so that a building with hundreds of doorbells can
/// move to PostgreSQL with a new implementation instead of a rewrite (docs/operations.md). The
/// default is SQLite on local disk: `SQLiteSyncStore`.
public protocol SyncStore: Sendable, NonceStore {
    /// Makes a one-time pairing code valid until `expiresAt`.
    func addPairingCode(_ code: String, expiresAt: Int64) throws
    /// Uses up `code` and registers the device; refuses unknown, expired or used codes.
    func pair(code: String, publicKey: Data, name: String, now: Int64) throws -> DeviceRecord
    func device(_ id: String) throws -> DeviceRecord?
    func devices() throws -> [DeviceRecord]
    func revoke(_ id: String, now: Int64) throws
    func touch(_ id: String, now: Int64) throws
    /// Stores the events not already held (by key) in one transaction. A repeated key is
    /// acknowledged and changes nothing.
    func ingest(_ events: [WireEvent], from deviceID: String, now: Int64) throws -> IngestResult
    /// Stored events, oldest first, after `sequence`.
    func events(after sequence: Int64, limit: Int) throws -> [StoredEvent]

    /// The media item, complete or still arriving.
    func media(_ mediaID: String, from deviceID: String) throws -> MediaRecord?
    /// Records an upload that is starting; an existing record is left as it is.
    func beginMedia(_ record: MediaRecord) throws
    func completeMedia(_ mediaID: String, from deviceID: String, now: Int64) throws
    /// Forgets an upload that failed its hash check, so that it starts again.
    func discardMedia(_ mediaID: String, from deviceID: String) throws
    /// The media of an event, for the timeline.
    func media(forEvent eventID: String) throws -> [MediaRecord]
    /// Complete media, oldest first; with `before`, only what was created before then; with
    /// `device`, only that doorbell's.
    func completedMedia(before: Int64?, limit: Int, device: String?) throws -> [MediaRecord]
    /// Bytes of complete media per doorbell: what the quota shares out.
    func completedMediaBytes() throws -> [String: Int]
    /// Uploads announced and not complete, oldest first; with `device`, only that doorbell's.
    func unfinishedMedia(device: String?) throws -> [MediaRecord]
    /// Forgets complete media whose files are gone (retention, quota).
    func deleteMedia(_ records: [MediaRecord]) throws
}

/// Now, in Unix milliseconds: the stores' unit of time.
public func unixMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

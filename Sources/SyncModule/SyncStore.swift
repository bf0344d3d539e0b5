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
    /// Stores the events not already held (by key) in one transaction and returns the keys it
    /// now holds from the batch: a repeated key is acknowledged and changes nothing.
    func ingest(_ events: [WireEvent], from deviceID: String, now: Int64) throws -> [String]
    /// Stored events, oldest first, after `sequence`.
    func events(after sequence: Int64, limit: Int) throws -> [StoredEvent]
}

import Foundation
import GRDB
import SyncProtocol

/// An owner's share of one clip (docs/privacy.md, "Sharing"): the clip's content key wrapped
/// under a secret that lives only in the link's fragment, so the sync module keeps a key it cannot
/// open. The link's token is kept only as a hash; the short `id` names the share on the page.
public struct ShareRecord: Sendable, Equatable {
    public var id: String
    public var deviceID: String
    public var mediaID: String
    /// base64 of the 12-byte IV and the AES-GCM-wrapped content key.
    public var wrappedKey: String
    public var owner: String
    public var createdAt: Int64
    public var expiresAt: Int64
    public var revokedAt: Int64?
    public var opened: Int

    /// Usable now: neither expired nor revoked.
    public func isLive(now: Int64) -> Bool { revokedAt == nil && now < expiresAt }
}

public enum ShareError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidKey
    case invalidLifetime

    public var description: String {
        switch self {
        case .invalidKey: "the wrapped key must be base64 of a 12-byte IV and a 16- or 32-byte key with its tag"
        case .invalidLifetime: "a share lasts from 1 hour to 30 days"
        }
    }
}

public protocol ShareStore: Sendable {
    /// Records a share; returns it. `tokenHash` is SHA-256 (hex) of the link's token.
    func createShare(
        tokenHash: String, deviceID: String, mediaID: String, wrappedKey: String, owner: String, now: Int64,
        expiresAt: Int64
    ) throws -> ShareRecord
    func share(tokenHash: String) throws -> ShareRecord?
    /// Counts an opening of the link.
    func markShareOpened(_ id: String) throws
    func shares() throws -> [ShareRecord]
    /// Returns whether a live share was revoked.
    func revokeShare(_ id: String, now: Int64) throws -> Bool
}

extension SQLiteSyncStore: ShareStore {
    static func registerShareMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6-shares") { db in
            try db.create(table: "share") { table in
                table.primaryKey("id", .text)
                table.column("tokenHash", .text).notNull().unique()
                table.column("deviceID", .text).notNull()
                table.column("mediaID", .text).notNull()
                table.column("wrappedKey", .text).notNull()
                table.column("owner", .text).notNull()
                table.column("createdAt", .integer).notNull()
                table.column("expiresAt", .integer).notNull()
                table.column("revokedAt", .integer)
                table.column("opened", .integer).notNull().defaults(to: 0)
            }
        }
    }

    public static let shareLifetime: ClosedRange<Int64> = 3_600_000...(30 * 86_400_000)

    public func createShare(
        tokenHash: String, deviceID: String, mediaID: String, wrappedKey: String, owner: String, now: Int64,
        expiresAt: Int64
    ) throws -> ShareRecord {
        guard let wrapped = Data(base64Encoded: wrappedKey), [12 + 32, 12 + 48].contains(wrapped.count) else {
            throw ShareError.invalidKey
        }
        guard Self.shareLifetime.contains(expiresAt - now) else { throw ShareError.invalidLifetime }
        let record = ShareRecord(
            id: String(tokenHash.prefix(12)), deviceID: deviceID, mediaID: mediaID, wrappedKey: wrappedKey,
            owner: owner, createdAt: now, expiresAt: expiresAt, revokedAt: nil, opened: 0)
        try write { db in
            try db.execute(
                sql: """
                    INSERT INTO share (id, tokenHash, deviceID, mediaID, wrappedKey, owner, createdAt, expiresAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [record.id, tokenHash, deviceID, mediaID, wrappedKey, owner, now, expiresAt])
        }
        return record
    }

    static func share(_ row: Row) throws -> ShareRecord {
        try ShareRecord(
            id: row.decode(forColumn: "id"), deviceID: row.decode(forColumn: "deviceID"),
            mediaID: row.decode(forColumn: "mediaID"), wrappedKey: row.decode(forColumn: "wrappedKey"),
            owner: row.decode(forColumn: "owner"), createdAt: row.decode(forColumn: "createdAt"),
            expiresAt: row.decode(forColumn: "expiresAt"), revokedAt: row.decode(forColumn: "revokedAt"),
            opened: row.decode(forColumn: "opened"))
    }

    public func share(tokenHash: String) throws -> ShareRecord? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM share WHERE tokenHash = ?", arguments: [tokenHash]).map(Self.share)
        }
    }

    public func markShareOpened(_ id: String) throws {
        try write { db in try db.execute(sql: "UPDATE share SET opened = opened + 1 WHERE id = ?", arguments: [id]) }
    }

    public func shares() throws -> [ShareRecord] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM share ORDER BY createdAt DESC").map(Self.share) }
    }

    public func revokeShare(_ id: String, now: Int64) throws -> Bool {
        try write { db in
            try db.execute(
                sql: "UPDATE share SET revokedAt = ? WHERE id = ? AND revokedAt IS NULL AND expiresAt > ?",
                arguments: [now, id, now])
            return db.changesCount > 0
        }
    }
}

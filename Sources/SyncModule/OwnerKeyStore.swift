import Foundation
import GRDB
import Privacy

/// One of the owner's public keys (one per phone or browser, and the recovery key): what media is
/// sealed for (docs/privacy.md). The private halves never reach the sync module.
public struct OwnerKeyRecord: Sendable, Equatable, Codable {
    /// The key's id (docs/privacy.md, Sealed media).
    public var id: String
    public var owner: String
    public var label: String
    /// The uncompressed P-256 point, base64.
    public var publicKey: String
    public var createdAt: Int64
    /// Set when the owner revoked it (a lost phone): nothing new is sealed for it.
    public var revokedAt: Int64?
}

public enum OwnerKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidKey
    case duplicate
    case invalidLabel

    public var description: String {
        switch self {
        case .invalidKey: "expected a base64 P-256 public key (the 65-byte uncompressed point)"
        case .duplicate: "this key is already registered"
        case .invalidLabel: "expected a label of 1 to 64 characters"
        }
    }
}

/// The owner's keys as the sync module keeps them.
public protocol OwnerKeyStore: Sendable {
    func addOwnerKey(owner: String, label: String, publicKey: String, now: Int64) throws -> OwnerKeyRecord
    /// Every key, oldest first; revoked ones too, marked.
    func ownerKeys() throws -> [OwnerKeyRecord]
    /// Returns whether a key that was not revoked yet is now.
    @discardableResult
    func revokeOwnerKey(_ id: String, now: Int64) throws -> Bool
}

extension SQLiteSyncStore: OwnerKeyStore {
    static func registerKeyMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-owner-keys") { db in
            try db.create(table: "ownerKey") { table in
                table.primaryKey("id", .text)
                table.column("owner", .text).notNull()
                table.column("label", .text).notNull()
                table.column("publicKey", .text).notNull()
                table.column("createdAt", .integer).notNull()
                table.column("revokedAt", .integer)
            }
        }
    }

    public func addOwnerKey(owner: String, label: String, publicKey: String, now: Int64) throws -> OwnerKeyRecord {
        guard let key = try? OwnerPublicKey(base64: publicKey) else { throw OwnerKeyError.invalidKey }
        guard (1...64).contains(label.count) else { throw OwnerKeyError.invalidLabel }
        let record = OwnerKeyRecord(
            id: key.id, owner: owner, label: label, publicKey: key.base64, createdAt: now, revokedAt: nil)
        try write { db in
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM ownerKey WHERE id = ?", arguments: [key.id]) == nil else {
                throw OwnerKeyError.duplicate
            }
            try db.execute(
                sql: "INSERT INTO ownerKey (id, owner, label, publicKey, createdAt) VALUES (?, ?, ?, ?, ?)",
                arguments: [record.id, owner, label, record.publicKey, now])
        }
        return record
    }

    public func ownerKeys() throws -> [OwnerKeyRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM ownerKey ORDER BY createdAt, id").map { row in
                OwnerKeyRecord(
                    id: row["id"], owner: row["owner"], label: row["label"], publicKey: row["publicKey"],
                    createdAt: row["createdAt"], revokedAt: row["revokedAt"])
            }
        }
    }

    public func revokeOwnerKey(_ id: String, now: Int64) throws -> Bool {
        try write { db in
            try db.execute(
                sql: "UPDATE ownerKey SET revokedAt = ? WHERE id = ? AND revokedAt IS NULL", arguments: [now, id])
            return db.changesCount > 0
        }
    }
}

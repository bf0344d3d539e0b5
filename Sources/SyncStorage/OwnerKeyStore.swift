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
    /// The recovery key's signature over it (raw r‖s, base64): the first recovery key's is its own.
    /// Nil only for keys registered before every key had to be signed.
    public var signature: String?
    public var createdAt: Int64
    /// Set when the owner revoked it (a lost phone): nothing new is sealed for it.
    public var revokedAt: Int64?
    /// What it may open: `notification` keys open notification thumbnails only.
    public var role: OwnerKeyRole = .owner
}

public enum OwnerKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidKey
    case duplicate
    case invalidLabel
    case notSigned
    case noRecovery

    public var description: String {
        switch self {
        case .invalidKey: "expected a base64 P-256 public key (the 65-byte uncompressed point)"
        case .duplicate: "this key is already registered"
        case .invalidLabel: "expected a label of 1 to 64 characters"
        case .notSigned: "the key must be signed with your recovery key (enter it with the new key)"
        case .noRecovery: "make the recovery key first: it signs every other key"
        }
    }
}

/// The owner's keys as the sync module keeps them.
public protocol OwnerKeyStore: Sendable {
    /// Every key needs its `signature` (docs/privacy.md, "Key trust"): the recovery key's, or for
    /// the first recovery key its own; doorbells check it too.
    func addOwnerKey(
        owner: String, label: String, publicKey: String, signature: String?, role: OwnerKeyRole, now: Int64
    ) throws -> OwnerKeyRecord
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

    static func registerKeySignatureMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v7-key-signatures") { db in
            try db.alter(table: "ownerKey") { table in table.add(column: "signature", .text) }
        }
    }

    static func registerKeyRoleMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v10-key-roles") { db in
            try db.alter(table: "ownerKey") { table in table.add(column: "role", .text).notNull().defaults(to: "owner")
            }
        }
    }

    public func addOwnerKey(
        owner: String, label: String, publicKey: String, signature: String?, role: OwnerKeyRole = .owner, now: Int64
    ) throws -> OwnerKeyRecord {
        guard let key = try? OwnerPublicKey(base64: publicKey) else { throw OwnerKeyError.invalidKey }
        guard (1...64).contains(label.count) else { throw OwnerKeyError.invalidLabel }
        // A recovery key is an owner key; a notification key is never one.
        guard role == .owner || label != "recovery" else { throw OwnerKeyError.invalidLabel }
        let record = OwnerKeyRecord(
            id: key.id, owner: owner, label: label, publicKey: key.base64, signature: signature, createdAt: now,
            revokedAt: nil, role: role)
        try write { db in
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM ownerKey WHERE id = ?", arguments: [key.id]) == nil else {
                throw OwnerKeyError.duplicate
            }
            // Every key is signed, whatever its label: by the owner's recovery key once there is
            // one (a second recovery key too), and the first recovery key by itself, which shows
            // that whoever registers it holds its private half. A key before any recovery key has
            // nothing to vouch for it and is refused.
            let recovery = try String.fetchOne(
                db, sql: "SELECT publicKey FROM ownerKey WHERE label = 'recovery' AND revokedAt IS NULL LIMIT 1")
            let signer: Data
            if let recovery, let recoveryPoint = Data(base64Encoded: recovery) {
                signer = recoveryPoint
            } else if label == "recovery" {
                signer = key.x963
            } else {
                throw OwnerKeyError.noRecovery
            }
            guard let signatureBytes = signature.flatMap({ Data(base64Encoded: $0) }),
                KeyEndorsement.isValid(signatureBytes, for: key.x963, by: signer, role: role)
            else { throw OwnerKeyError.notSigned }
            try db.execute(
                sql:
                    "INSERT INTO ownerKey (id, owner, label, publicKey, signature, createdAt, role) "
                    + "VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [record.id, owner, label, record.publicKey, signature, now, role.rawValue])
        }
        return record
    }

    public func ownerKeys() throws -> [OwnerKeyRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM ownerKey ORDER BY createdAt, id").map { row in
                try OwnerKeyRecord(
                    id: row.decode(forColumn: "id"), owner: row.decode(forColumn: "owner"),
                    label: row.decode(forColumn: "label"), publicKey: row.decode(forColumn: "publicKey"),
                    signature: row.decode(forColumn: "signature"), createdAt: row.decode(forColumn: "createdAt"),
                    revokedAt: row.decode(forColumn: "revokedAt"),
                    role: OwnerKeyRole(rawValue: row.decode(forColumn: "role")) ?? .notification)
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

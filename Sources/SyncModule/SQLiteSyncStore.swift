import Crypto
import Foundation
import GRDB
import SyncProtocol

/// The default store: SQLite (WAL) through GRDB, on the sync module's own disk.
public final class SQLiteSyncStore: SyncStore {
    private let database: DatabaseQueue

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        database = try DatabaseQueue(path: path, configuration: configuration)
        _ = try database.writeWithoutTransaction { db in try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
        try Self.migrator.migrate(database)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "device") { table in
                table.primaryKey("id", .text)
                table.column("publicKey", .blob).notNull()
                table.column("name", .text).notNull()
                table.column("pairedAt", .integer).notNull()
                table.column("revokedAt", .integer)
                table.column("lastSeenAt", .integer)
            }
            // Only a hash of each code is kept: a stolen database does not hand out a live code.
            try db.create(table: "pairingCode") { table in
                table.primaryKey("codeHash", .text)
                table.column("expiresAt", .integer).notNull()
                table.column("usedAt", .integer)
            }
            try db.create(table: "event") { table in
                table.autoIncrementedPrimaryKey("sequence")
                table.column("key", .text).notNull().unique()
                table.column("deviceID", .text).notNull().references("device")
                table.column("eventID", .text).notNull()
                table.column("kind", .text).notNull()
                table.column("payload", .blob).notNull()
                table.column("receivedAt", .integer).notNull()
            }
            try db.create(table: "nonce") { table in
                table.column("deviceID", .text).notNull()
                table.column("nonce", .text).notNull()
                table.column("seenAt", .integer).notNull()
                table.primaryKey(["deviceID", "nonce"])
            }
        }
        return migrator
    }

    static func hash(_ code: String) -> String {
        sha256Hex(Data(code.uppercased().filter { $0 != "-" }.utf8))
    }

    public func addPairingCode(_ code: String, expiresAt: Int64) throws {
        try database.write { db in
            try db.execute(
                sql: "INSERT INTO pairingCode (codeHash, expiresAt) VALUES (?, ?)",
                arguments: [Self.hash(code), expiresAt])
        }
    }

    public func pair(code: String, publicKey: Data, name: String, now: Int64) throws -> DeviceRecord {
        try database.write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT expiresAt, usedAt FROM pairingCode WHERE codeHash = ?",
                    arguments: [Self.hash(code)])
            else { throw PairingFailure.unknownCode }
            guard (row["usedAt"] as Int64?) == nil else { throw PairingFailure.usedCode }
            guard (row["expiresAt"] as Int64) > now else { throw PairingFailure.expiredCode }
            try db.execute(
                sql: "UPDATE pairingCode SET usedAt = ? WHERE codeHash = ?", arguments: [now, Self.hash(code)])
            let record = DeviceRecord(
                id: DeviceIdentity.deviceID(for: publicKey), publicKey: publicKey, name: name, pairedAt: now,
                revokedAt: nil, lastSeenAt: nil)
            // Pairing again with the same key (a reinstalled doorbell) renews it.
            try db.execute(
                sql: """
                    INSERT INTO device (id, publicKey, name, pairedAt) VALUES (?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET name = excluded.name, pairedAt = excluded.pairedAt, revokedAt = NULL
                    """,
                arguments: [record.id, publicKey, name, now])
            return record
        }
    }

    public func device(_ id: String) throws -> DeviceRecord? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM device WHERE id = ?", arguments: [id]).map(Self.device)
        }
    }

    public func devices() throws -> [DeviceRecord] {
        try database.read { db in try Row.fetchAll(db, sql: "SELECT * FROM device ORDER BY pairedAt").map(Self.device) }
    }

    static func device(_ row: Row) -> DeviceRecord {
        DeviceRecord(
            id: row["id"], publicKey: row["publicKey"], name: row["name"], pairedAt: row["pairedAt"],
            revokedAt: row["revokedAt"], lastSeenAt: row["lastSeenAt"])
    }

    public func revoke(_ id: String, now: Int64) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE device SET revokedAt = ? WHERE id = ?", arguments: [now, id])
        }
    }

    public func touch(_ id: String, now: Int64) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE device SET lastSeenAt = ? WHERE id = ?", arguments: [now, id])
        }
    }

    public func ingest(_ events: [WireEvent], from deviceID: String, now: Int64) throws -> [String] {
        let encoder = JSONEncoder()
        let rows = try events.map { ($0, try encoder.encode($0)) }
        do {
            return try insert(rows, from: deviceID, now: now)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw DatabaseFullError(description: "\(error)")
        }
    }

    private func insert(_ rows: [(WireEvent, Data)], from deviceID: String, now: Int64) throws -> [String] {
        try database.write { db in
            for (event, payload) in rows {
                try db.execute(
                    sql: """
                        INSERT INTO event (key, deviceID, eventID, kind, payload, receivedAt) VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT(key) DO NOTHING
                        """,
                    arguments: [event.key, deviceID, event.eventID, event.kind, payload, now])
            }
            return rows.map(\.0.key)
        }
    }

    public func events(after sequence: Int64, limit: Int) throws -> [StoredEvent] {
        let decoder = JSONDecoder()
        return try database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM event WHERE sequence > ? ORDER BY sequence LIMIT ?",
                arguments: [sequence, limit]
            ).map { row in
                StoredEvent(
                    sequence: row["sequence"], deviceID: row["deviceID"],
                    event: try decoder.decode(WireEvent.self, from: row["payload"] as Data),
                    receivedAt: row["receivedAt"])
            }
        }
    }

    /// Nonces are kept in the database, so a restart does not reopen the replay window.
    public func insert(_ nonce: String, deviceID: String, at now: Int64) -> Bool {
        (try? database.write { db -> Bool in
            try db.execute(sql: "DELETE FROM nonce WHERE seenAt < ?", arguments: [now - 2 * RequestVerifier.window])
            try db.execute(
                sql: "INSERT INTO nonce (deviceID, nonce, seenAt) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                arguments: [deviceID, nonce, now])
            return db.changesCount == 1
        }) ?? false
    }
}

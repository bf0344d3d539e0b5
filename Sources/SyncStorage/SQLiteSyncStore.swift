import Crypto
import Foundation
import GRDB
import SyncProtocol

/// The default store: SQLite (WAL) through GRDB, on the sync module's own disk.
public final class SQLiteSyncStore: SyncStore {
    private let database: DatabaseQueue
    /// Signs the sync module's own access-log entries.
    let accessSigner: AccessSigner
    /// Bounds its own log and its copies of doorbells' logs.
    let accessRotation: AccessRotation

    public init(path: String, accessRotation: AccessRotation = .standard) throws {
        accessSigner = try Self.accessSigner(besideDatabase: path)
        self.accessRotation = accessRotation
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        // `porchlight-sync owner add`, `pair-code` and `revoke` write while the server runs: each
        // side waits for the other's short transaction instead of failing with SQLITE_BUSY.
        configuration.busyMode = .timeout(10)
        database = try DatabaseQueue(path: path, configuration: configuration)
        _ = try database.writeWithoutTransaction { db in try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
        try Self.migrator(signer: accessSigner).migrate(database)
    }

    static func migrator(signer: AccessSigner) -> DatabaseMigrator {
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
        migrator.registerMigration("v2-media") { db in
            try db.create(table: "media") { table in
                table.column("deviceID", .text).notNull().references("device")
                table.column("mediaID", .text).notNull()
                table.column("eventID", .text).notNull().indexed()
                table.column("kind", .text).notNull()
                table.column("size", .integer).notNull()
                table.column("sha256", .text).notNull()
                table.column("createdAt", .integer).notNull()
                table.column("completedAt", .integer)
                table.primaryKey(["deviceID", "mediaID"])
            }
        }
        registerOwnerMigrations(&migrator)
        registerKeyMigrations(&migrator)
        registerAccessMigrations(&migrator, signer: signer)
        registerShareMigrations(&migrator)
        registerKeySignatureMigrations(&migrator)
        registerTalkKeyMigrations(&migrator)
        registerPushMigrations(&migrator)
        registerKeyRoleMigrations(&migrator)
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
            guard try (row.decode(forColumn: "usedAt") as Int64?) == nil else { throw PairingFailure.usedCode }
            guard try (row.decode(forColumn: "expiresAt") as Int64) > now else { throw PairingFailure.expiredCode }
            try db.execute(
                sql: "UPDATE pairingCode SET usedAt = ? WHERE codeHash = ?", arguments: [now, Self.hash(code)])
            let record = DeviceRecord(
                id: DeviceIdentity.deviceID(for: publicKey), publicKey: publicKey, name: name, pairedAt: now,
                revokedAt: nil, lastSeenAt: nil)
            // Pairing again with the same key (a reinstalled doorbell) renews it.
            try db.execute(
                sql: """
                    INSERT INTO device (id, publicKey, name, pairedAt) VALUES (?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET name = excluded.name, pairedAt = excluded.pairedAt, revokedAt = NULL,
                        talkKey = NULL
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

    static func device(_ row: Row) throws -> DeviceRecord {
        try DeviceRecord(
            id: row.decode(forColumn: "id"), publicKey: row.decode(forColumn: "publicKey"),
            name: row.decode(forColumn: "name"), pairedAt: row.decode(forColumn: "pairedAt"),
            revokedAt: row.decode(forColumn: "revokedAt"), lastSeenAt: row.decode(forColumn: "lastSeenAt"))
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

    public func ingest(_ events: [WireEvent], from deviceID: String, now: Int64) throws -> IngestResult {
        let encoder = JSONEncoder()
        let rows = try events.map { ($0, try encoder.encode($0)) }
        return try full { try insert(rows, from: deviceID, now: now) }
    }

    private func insert(_ rows: [(WireEvent, Data)], from deviceID: String, now: Int64) throws -> IngestResult {
        try database.write { db in
            var stored: [StoredEvent] = []
            for (event, payload) in rows {
                try db.execute(
                    sql: """
                        INSERT INTO event (key, deviceID, eventID, kind, payload, receivedAt, wallMilliseconds)
                        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING
                        """,
                    arguments: [
                        event.key, deviceID, event.eventID, event.kind.rawValue, payload, now, event.wallMilliseconds,
                    ])
                if db.changesCount == 1 {
                    stored.append(
                        StoredEvent(sequence: db.lastInsertedRowID, deviceID: deviceID, event: event, receivedAt: now))
                }
            }
            // The device was seen: recorded in the same commit, so an ingest costs one fsync.
            try db.execute(sql: "UPDATE device SET lastSeenAt = ? WHERE id = ?", arguments: [now, deviceID])
            return IngestResult(accepted: rows.map(\.0.key), stored: stored)
        }
    }

    public func events(after sequence: Int64, limit: Int) throws -> [StoredEvent] {
        try storedEvents(
            sql: "SELECT * FROM event WHERE sequence > ? ORDER BY sequence LIMIT ?", arguments: [sequence, limit])
    }

    func storedEvents(sql: String, arguments: StatementArguments) throws -> [StoredEvent] {
        let decoder = JSONDecoder()
        return try database.read { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                try StoredEvent(
                    sequence: row.decode(forColumn: "sequence"), deviceID: row.decode(forColumn: "deviceID"),
                    event: decoder.decode(WireEvent.self, from: row.decode(forColumn: "payload") as Data),
                    receivedAt: row.decode(forColumn: "receivedAt"))
            }
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T { try database.read(body) }
    func write<T>(_ body: (Database) throws -> T) throws -> T { try full { try database.write(body) } }

    public func media(_ mediaID: String, from deviceID: String) throws -> MediaRecord? {
        try database.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM media WHERE deviceID = ? AND mediaID = ?", arguments: [deviceID, mediaID]
            ).map(Self.media)
        }
    }

    /// A stored kind this sync module does not know is an error, not a guess: the file may have
    /// been written by another process.
    private static func mediaKind(_ text: String) throws -> MediaKind {
        guard let kind = MediaKind(rawValue: text) else { throw StoredValueError(column: "media.kind", value: text) }
        return kind
    }

    static func media(_ row: Row) throws -> MediaRecord {
        try MediaRecord(
            deviceID: row.decode(forColumn: "deviceID"), mediaID: row.decode(forColumn: "mediaID"),
            eventID: row.decode(forColumn: "eventID"), kind: mediaKind(row.decode(forColumn: "kind")),
            size: row.decode(forColumn: "size"), sha256: row.decode(forColumn: "sha256"),
            createdAt: row.decode(forColumn: "createdAt"), completedAt: row.decode(forColumn: "completedAt"))
    }

    public func beginMedia(_ record: MediaRecord) throws {
        try full {
            try database.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO media (deviceID, mediaID, eventID, kind, size, sha256, createdAt)
                        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                        """,
                    arguments: [
                        record.deviceID, record.mediaID, record.eventID, record.kind.rawValue, record.size,
                        record.sha256,
                        record.createdAt,
                    ])
            }
        }
    }

    public func completeMedia(_ mediaID: String, from deviceID: String, now: Int64) throws {
        try full {
            try database.write { db in
                try db.execute(
                    sql: "UPDATE media SET completedAt = ? WHERE deviceID = ? AND mediaID = ?",
                    arguments: [now, deviceID, mediaID])
            }
        }
    }

    public func discardMedia(_ mediaID: String, from deviceID: String) throws {
        try database.write { db in
            try db.execute(
                sql: "DELETE FROM media WHERE deviceID = ? AND mediaID = ? AND completedAt IS NULL",
                arguments: [deviceID, mediaID])
        }
    }

    public func completedMedia(before: Int64?, limit: Int, device: String? = nil) throws -> [MediaRecord] {
        try database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM media WHERE completedAt IS NOT NULL AND createdAt < ?
                    AND (? IS NULL OR deviceID = ?)
                    ORDER BY createdAt, deviceID, mediaID LIMIT ?
                    """, arguments: [before ?? Int64.max, device, device, limit]
            ).map(Self.media)
        }
    }

    public func completedMediaBytes() throws -> [String: Int] {
        try database.read { db in
            var bytes: [String: Int] = [:]
            for row in try Row.fetchAll(
                db,
                sql: "SELECT deviceID, SUM(size) AS bytes FROM media WHERE completedAt IS NOT NULL GROUP BY deviceID")
            {
                bytes[try row.decode(forColumn: "deviceID")] = try row.decode(forColumn: "bytes")
            }
            return bytes
        }
    }

    public func unfinishedMedia(device: String?) throws -> [MediaRecord] {
        try database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM media WHERE completedAt IS NULL AND (? IS NULL OR deviceID = ?)
                    ORDER BY createdAt, deviceID, mediaID
                    """, arguments: [device, device]
            ).map(Self.media)
        }
    }

    public func deleteMedia(_ records: [MediaRecord]) throws {
        try write { db in
            for record in records {
                try db.execute(
                    sql: "DELETE FROM media WHERE deviceID = ? AND mediaID = ?",
                    arguments: [record.deviceID, record.mediaID])
                // A share's wrapped key goes with the item, like the item's own.
                try db.execute(
                    sql: "DELETE FROM share WHERE deviceID = ? AND mediaID = ?",
                    arguments: [record.deviceID, record.mediaID])
            }
        }
    }

    public func media(forEvent eventID: String) throws -> [MediaRecord] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM media WHERE eventID = ? ORDER BY kind", arguments: [eventID])
                .map(Self.media)
        }
    }

    /// Runs `body`, turning SQLite's "disk full" into the error the API answers 507 for.
    private func full<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw DatabaseFullError(description: "\(error)")
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

/// A value in the database that this sync module would not have written.
struct StoredValueError: Error, CustomStringConvertible {
    let column: String
    let value: String
    var description: String { "\(column) holds \"\(value.prefix(32))\", which this sync module does not write" }
}

/// The store ran out of space (SQLITE_FULL); the API answers 507 and the doorbell retries later.
public struct DatabaseFullError: Error, CustomStringConvertible {
    public var description: String
}

import Crypto
import Foundation
import GRDB
import SyncProtocol

/// The access logs as the sync module keeps them (docs/privacy.md, "Access log"): its own, signed
/// with its access-log key, and its copy of each doorbell's, signed by the doorbell. Each is an
/// ordered run of entries in one table, stored exactly as signed so that any copy can be checked
/// by the same `AccessLogVerifier`.
public protocol AccessLogStore: Sendable {
    /// The key that signs the sync module's own entries (raw Ed25519).
    var accessPublicKey: Data { get }
    /// A log's entries in stored order after `sequence`; `log` is `sync` or a device id.
    func accessRecords(log: String, after sequence: Int64, limit: Int) throws -> [AccessRecord]
    /// The newest sequence of a log held here (0: none).
    func lastAccessSequence(log: String) throws -> Int64
    /// Keeps a doorbell's entries that follow on from its copy here and are signed by its key;
    /// returns how many were kept. Anything else is refused with the reason.
    func appendMirrored(_ records: [AccessRecord], device: String) throws -> Int
}

public enum MirrorRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    case notSigned(Int64)
    case doesNotFollow(Int64)
    case unknownDevice
    case full

    public var description: String {
        switch self {
        case .notSigned(let sequence): "entry \(sequence) is not signed by the doorbell"
        case .doesNotFollow(let sequence): "entry \(sequence) does not follow the copy held here"
        case .unknownDevice: "the device is not paired"
        case .full: "the copy here is full: the doorbell's log has no checkpoint old enough to rotate it at"
        }
    }
}

extension SQLiteSyncStore: AccessLogStore {
    /// The sync module's access-log key: `access-log.key` beside the database, made on first use.
    static func accessSigner(besideDatabase path: String) throws -> AccessSigner {
        let keyPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("access-log.key")
            .path
        if let bytes = FileManager.default.contents(atPath: keyPath) {
            return try AccessSigner(log: "sync", privateKeyBytes: bytes)
        }
        let bytes = Curve25519.Signing.PrivateKey().rawRepresentation
        let temporary = keyPath + ".new"
        guard
            FileManager.default.createFile(atPath: temporary, contents: bytes, attributes: [.posixPermissions: 0o600]),
            rename(temporary, keyPath) == 0
        else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: keyPath]) }
        return try AccessSigner(log: "sync", privateKeyBytes: bytes)
    }

    /// v5: entries as signed records, one table for the sync module's log and its doorbell copies.
    /// The unsigned entries of earlier versions are signed once, in order, and their table dropped.
    static func registerAccessMigrations(_ migrator: inout DatabaseMigrator, signer: AccessSigner) {
        migrator.registerMigration("v5-signed-access") { db in
            try db.create(table: "accessRecord") { table in
                table.autoIncrementedPrimaryKey("position")
                table.column("log", .text).notNull()
                table.column("sequence", .integer).notNull()
                table.column("record", .text).notNull()
            }
            try db.create(index: "accessRecord_log", on: "accessRecord", columns: ["log", "position"])
            var last: AccessRecord?
            for row in try Row.fetchAll(db, sql: "SELECT * FROM accessLog ORDER BY sequence") {
                let record = try signer.entry(
                    after: last, at: row.decode(forColumn: "at"), actor: row.decode(forColumn: "actor"),
                    action: row.decode(forColumn: "action"), device: row.decode(forColumn: "device"),
                    detail: row.decode(forColumn: "detail"), source: row.decode(forColumn: "source"))
                try insert(record, db)
                last = record
            }
            try db.drop(table: "accessLog")
        }
    }

    static func insert(_ record: AccessRecord, _ db: Database) throws {
        try db.execute(
            sql: "INSERT INTO accessRecord (log, sequence, record) VALUES (?, ?, ?)",
            arguments: [record.log, record.sequence, String(decoding: try JSONEncoder().encode(record), as: UTF8.self)])
    }

    static func lastRecord(of log: String, _ db: Database) throws -> AccessRecord? {
        try String.fetchOne(
            db, sql: "SELECT record FROM accessRecord WHERE log = ? ORDER BY position DESC LIMIT 1", arguments: [log]
        ).flatMap { try? JSONDecoder().decode(AccessRecord.self, from: Data($0.utf8)) }
    }

    public var accessPublicKey: Data { accessSigner.publicKey }

    @discardableResult
    public func appendAccess(
        at: Int64, actor: String, action: String, device: String, detail: String, source: String
    ) throws -> AccessRecord {
        try write { db in
            var last = try Self.lastRecord(of: "sync", db)
            // Rotation is tried at each checkpoint, not each entry: it scans the log's checkpoints.
            var checkpointed = false
            if accessRotation.checkpointDue(after: last), let previous = last {
                let checkpoint = try accessSigner.checkpoint(after: previous, at: at)
                try Self.insert(checkpoint, db)
                last = checkpoint
                checkpointed = true
            }
            let record = try accessSigner.entry(
                after: last, at: at, actor: actor, action: action, device: device, detail: detail, source: source)
            try Self.insert(record, db)
            if checkpointed, try rotate("sync", db) > accessRotation.writerLimit {
                try rotate("sync", db, ignoringAge: true)
            }
            return record
        }
    }

    static func count(of log: String, _ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM accessRecord WHERE log = ?", arguments: [log]) ?? 0
    }

    /// Past `maximumKept` entries, drops a log's oldest up to the earliest checkpoint that leaves
    /// at most that many and is old enough (``AccessRotation``); with no such checkpoint, keeps
    /// them all. Returns how many it holds.
    @discardableResult
    func rotate(_ log: String, _ db: Database, ignoringAge: Bool = false) throws -> Int {
        let count = try Self.count(of: log, db)
        guard count > accessRotation.maximumKept else { return count }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        // The text search only narrows the rows parsed; each candidate is parsed and checked.
        let candidates = try Row.fetchAll(
            db,
            sql: """
                SELECT position, record,
                  (SELECT COUNT(*) FROM accessRecord later WHERE later.log = entry.log AND later.position >= entry.position)
                  AS kept
                FROM accessRecord entry WHERE log = ? AND record LIKE '%checkpoint%' ORDER BY position
                """, arguments: [log])
        for row in candidates where try (row.decode(forColumn: "kept") as Int) <= accessRotation.maximumKept {
            guard let text = try? (row.decode(forColumn: "record") as String),
                let record = try? JSONDecoder().decode(AccessRecord.self, from: Data(text.utf8)),
                record.log == log, accessRotation.mayBegin(at: record, now: now, ignoringAge: ignoringAge)
            else { continue }
            try db.execute(
                sql: "DELETE FROM accessRecord WHERE log = ? AND position < ?",
                arguments: [log, try row.decode(forColumn: "position") as Int64])
            return try row.decode(forColumn: "kept")
        }
        return count
    }

    /// The sync module's own log, oldest first.
    public func accessLog(limit: Int) throws -> [AccessRecord] {
        try accessRecords(log: "sync", after: 0, limit: limit)
    }

    public func accessRecords(log: String, after sequence: Int64, limit: Int) throws -> [AccessRecord] {
        try read { db in
            // Stored order, not sequence order: a reordered copy must read back reordered.
            let position =
                try Int64.fetchOne(
                    db, sql: "SELECT MIN(position) FROM accessRecord WHERE log = ? AND sequence > ?",
                    arguments: [log, sequence]) ?? Int64.max
            return try String.fetchAll(
                db, sql: "SELECT record FROM accessRecord WHERE log = ? AND position >= ? ORDER BY position LIMIT ?",
                arguments: [log, position, limit]
            ).map { text in
                // An entry that no longer parses is shown as one that cannot be authentic.
                (try? JSONDecoder().decode(AccessRecord.self, from: Data(text.utf8)))
                    ?? .unreadable(log: log, text: text)
            }
        }
    }

    public func lastAccessSequence(log: String) throws -> Int64 {
        try read { db in try Self.lastRecord(of: log, db)?.sequence ?? 0 }
    }

    public func appendMirrored(_ records: [AccessRecord], device: String) throws -> Int {
        try write { db in
            guard
                let key = try Data.fetchOne(db, sql: "SELECT publicKey FROM device WHERE id = ?", arguments: [device])
            else { throw MirrorRefusal.unknownDevice }
            var last = try Self.lastRecord(of: device, db)
            var held = try Self.count(of: device, db)
            if held >= accessRotation.hardLimit { held = try rotate(device, db) }
            var kept = 0
            var checkpointed = false
            for record in records where record.sequence > last?.sequence ?? 0 {
                guard held + kept < accessRotation.hardLimit else { throw MirrorRefusal.full }
                guard record.log == device, record.isAuthentic(publicKey: key) else {
                    throw MirrorRefusal.notSigned(record.sequence)
                }
                // An empty copy may begin at a checkpoint: the doorbell rotated its log.
                let follows =
                    record.sequence == (last?.sequence ?? 0) + 1 && record.previousHash == last?.hash ?? ""
                guard follows || (last == nil && record.isCheckpoint) else {
                    throw MirrorRefusal.doesNotFollow(record.sequence)
                }
                try Self.insert(record, db)
                last = record
                kept += 1
                checkpointed = checkpointed || record.isCheckpoint
            }
            if checkpointed { try rotate(device, db) }
            return kept
        }
    }
}

extension AccessLogStore {
    /// The sync module's log and its copies of `devices`' logs, as `audit verify` and the page's
    /// download take them.
    public func accessExport(devices: [String]) throws -> AccessLogExport {
        var copies: [String: [AccessRecord]] = [:]
        for device in devices { copies[device] = try accessRecords(log: device, after: 0, limit: .max) }
        return AccessLogExport(
            syncKey: accessPublicKey.base64EncodedString(), sync: try accessRecords(log: "sync", after: 0, limit: .max),
            devices: copies)
    }
}

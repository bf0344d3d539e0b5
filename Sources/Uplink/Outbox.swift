import DoorbellCore
import Foundation
import GRDB
import SyncProtocol

/// The daemon's durable outbox: every event is in SQLite (WAL, `synchronous = FULL`, so each
/// commit is fsynced) before it counts as produced, and stays there until the sync module has
/// acknowledged it. Events leave in the order they were produced. Survives `kill -9` and power
/// loss at any instant: a record is either committed or was never produced.
public final class Outbox: EventSink, Sendable {
    public struct Pending: Sendable, Equatable {
        public var sequence: Int64
        public var event: WireEvent
        public var attempts: Int
    }

    private let database: DatabaseQueue
    public let path: String
    /// Signalled after each append, so the uplink sends at once instead of polling.
    public let appended = Wakeup()

    /// Opens (or creates) the outbox database at `path`.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Small pages: a commit rewrites whole pages, and an event is a few hundred bytes.
            // (Only takes effect when the file is created.)
            try db.execute(sql: "PRAGMA page_size = 1024")
        }
        // porchlightctl reads it while the daemon writes: wait for the other's lock.
        configuration.busyMode = .timeout(10)
        database = try DatabaseQueue(path: path, configuration: configuration)
        // WAL: readers do not block the writer, and a commit appends instead of rewriting pages.
        _ = try database.writeWithoutTransaction { db in try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
        try Self.migrator.migrate(database)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "event") { table in
                table.autoIncrementedPrimaryKey("sequence")
                // Unique by construction (a UUIDv7 made here); the sync module deduplicates on it.
                table.column("key", .text).notNull()
                table.column("eventID", .text).notNull()
                table.column("kind", .text).notNull()
                table.column("payload", .blob).notNull()
                table.column("createdAt", .integer).notNull()
                table.column("attempts", .integer).notNull().defaults(to: 0)
                table.column("deliveredAt", .integer)
            }
            try db.create(index: "event_pending", on: "event", columns: ["deliveredAt", "sequence"])
        }
        return migrator
    }

    /// Stores the event durably, without blocking a cooperative thread while SQLite fsyncs.
    /// Throws if it cannot (a full disk); the dispatcher retries.
    public func deliver(_ event: DoorbellEvent) async throws {
        let (wire, payload, now) = try Self.record(event)
        try await database.write { db in try Self.insert(db, wire, payload, now) }
        appended.signal()
    }

    /// Stores the event durably, blocking until it is committed.
    public func append(_ event: DoorbellEvent) throws {
        let (wire, payload, now) = try Self.record(event)
        try database.write { db in try Self.insert(db, wire, payload, now) }
        appended.signal()
    }

    private static func record(_ event: DoorbellEvent) throws -> (WireEvent, Data, Int64) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let wire = WireEvent(event, key: EventID.make(epochMilliseconds: now).rawValue, wallMilliseconds: now)
        return (wire, try JSONEncoder().encode(wire), now)
    }

    private static func insert(_ db: Database, _ wire: WireEvent, _ payload: Data, _ now: Int64) throws {
        try db.execute(
            sql: "INSERT INTO event (key, eventID, kind, payload, createdAt) VALUES (?, ?, ?, ?, ?)",
            arguments: [wire.key, wire.eventID, wire.kind.rawValue, payload, now])
    }

    /// The oldest undelivered events, in order.
    public func pending(limit: Int = 100) throws -> [Pending] {
        try fetch("WHERE deliveredAt IS NULL", limit: limit)
    }

    /// Every record still held, delivered or not, in order (for checks and `porchlightctl`).
    public func records(limit: Int) throws -> [Pending] {
        try fetch("", limit: limit)
    }

    private func fetch(_ filter: String, limit: Int) throws -> [Pending] {
        try database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT sequence, payload, attempts FROM event \(filter) ORDER BY sequence LIMIT ?",
                arguments: [limit]
            ).map { row in
                // Decoded with `try`: a value of the wrong type in the file is an error, not a trap.
                try Pending(
                    sequence: row.decode(forColumn: "sequence"),
                    event: JSONDecoder().decode(WireEvent.self, from: row.decode(forColumn: "payload") as Data),
                    attempts: row.decode(forColumn: "attempts"))
            }
        }
    }

    /// Records that the sync module has these events; they will not be sent again.
    public func markDelivered(upTo sequence: Int64) throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try database.write { db in
            try db.execute(
                sql: "UPDATE event SET deliveredAt = ? WHERE deliveredAt IS NULL AND sequence <= ?",
                arguments: [now, sequence])
        }
    }

    /// Records that the sync module holds these events (by idempotency key).
    public func markDelivered(keys: [String]) throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try database.write { db in
            for key in keys {
                try db.execute(
                    sql: "UPDATE event SET deliveredAt = ? WHERE deliveredAt IS NULL AND key = ?",
                    arguments: [now, key])
            }
        }
    }

    /// SQLite's journal mode, for checks.
    func journalMode() throws -> String? {
        try database.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
    }

    /// Counts for STATUS and the health report.
    public func backlog() throws -> (pending: Int, delivered: Int) {
        try database.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM event WHERE deliveredAt IS NULL") ?? 0,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM event WHERE deliveredAt IS NOT NULL") ?? 0
            )
        }
    }

    /// Forgets delivered events older than `age`, so the database does not grow forever.
    public func pruneDelivered(olderThan age: Duration) throws {
        let cutoff = Int64(Date().timeIntervalSince1970 * 1000) - Int64(age / .milliseconds(1))
        try database.write { db in
            try db.execute(
                sql: "DELETE FROM event WHERE deliveredAt IS NOT NULL AND deliveredAt < ?", arguments: [cutoff])
        }
    }
}

import Crypto
import Foundation
import GRDB
import SyncProtocol

/// An owner's web session. The cookie holds a random token; the store keeps only its hash.
public struct OwnerSession: Sendable, Equatable {
    public var owner: String
    /// Sent back with every form and script request; a request without it changes nothing.
    public var csrf: String
    public var expiresAt: Int64

    public init(owner: String, csrf: String, expiresAt: Int64) {
        self.owner = owner
        self.csrf = csrf
        self.expiresAt = expiresAt
    }
}

/// What the timeline asks for.
public struct TimelineQuery: Sendable, Equatable {
    /// Kinds to show; the headline kinds by default (updates and press counts are folded in).
    public var kinds: [EventKind] = [.ring, .longPress, .motionStarted, .mediaEvicted]
    public var device: String?
    /// Unix milliseconds, start inclusive, end exclusive.
    public var from: Int64?
    public var until: Int64?
    /// Paging: events stored before this sequence.
    public var before: Int64?
    public var limit = 25

    public init() {}
}

/// The owner's side of the store: accounts, sessions, the access log and the timeline. SQLite
/// here; a PostgreSQL store would implement the same protocol (docs/operations.md).
public protocol OwnerStore: Sendable {
    func setOwner(_ name: String, passwordHash: String) throws
    func passwordHash(of owner: String) throws -> String?
    func owners() throws -> [String]
    func createSession(tokenHash: String, _ session: OwnerSession) throws
    func session(tokenHash: String, now: Int64) throws -> OwnerSession?
    func deleteSession(tokenHash: String) throws
    @discardableResult
    func appendAccess(
        at: Int64, actor: String, action: String, device: String, detail: String, source: String
    ) throws -> AccessRecord
    /// The sync module's own access log, oldest first.
    func accessLog(limit: Int) throws -> [AccessRecord]
    func timeline(_ query: TimelineQuery) throws -> [StoredEvent]
    /// Events that share an event id (a ring and its press counts, a motion start and its end).
    func related(to eventID: String) throws -> [StoredEvent]
    func media(_ mediaID: String, from deviceID: String, complete: Bool) throws -> MediaRecord?
}

extension SQLiteSyncStore: OwnerStore {
    static func registerOwnerMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3-owner") { db in
            try db.create(table: "owner") { table in
                table.primaryKey("name", .text)
                table.column("passwordHash", .text).notNull()
            }
            try db.create(table: "ownerSession") { table in
                table.primaryKey("tokenHash", .text)
                table.column("owner", .text).notNull().references("owner", onDelete: .cascade)
                table.column("csrf", .text).notNull()
                table.column("expiresAt", .integer).notNull()
            }
            try db.create(table: "accessLog") { table in
                table.autoIncrementedPrimaryKey("sequence")
                table.column("at", .integer).notNull()
                table.column("actor", .text).notNull()
                table.column("action", .text).notNull()
                table.column("device", .text).notNull()
                table.column("detail", .text).notNull()
                table.column("source", .text).notNull()
                table.column("previousHash", .text).notNull()
                table.column("hash", .text).notNull()
            }
            // The timeline filters by the doorbell's time; it was only inside the JSON so far.
            try db.alter(table: "event") { table in
                table.add(column: "wallMilliseconds", .integer).notNull().defaults(to: 0)
            }
            try db.execute(
                sql: "UPDATE event SET wallMilliseconds = json_extract(CAST(payload AS TEXT), '$.wallMilliseconds')")
            try db.create(index: "event_kind_wall", on: "event", columns: ["kind", "wallMilliseconds"])
        }
    }

    public func setOwner(_ name: String, passwordHash: String) throws {
        try write { db in
            try db.execute(
                sql: """
                    INSERT INTO owner (name, passwordHash) VALUES (?, ?)
                    ON CONFLICT(name) DO UPDATE SET passwordHash = excluded.passwordHash
                    """,
                arguments: [name, passwordHash])
            // A new password ends every session of that owner.
            try db.execute(sql: "DELETE FROM ownerSession WHERE owner = ?", arguments: [name])
        }
    }

    public func passwordHash(of owner: String) throws -> String? {
        try read { db in
            try String.fetchOne(db, sql: "SELECT passwordHash FROM owner WHERE name = ?", arguments: [owner])
        }
    }

    public func owners() throws -> [String] {
        try read { db in try String.fetchAll(db, sql: "SELECT name FROM owner ORDER BY name") }
    }

    public func createSession(tokenHash: String, _ session: OwnerSession) throws {
        try write { db in
            try db.execute(
                sql: "DELETE FROM ownerSession WHERE expiresAt < ?", arguments: [session.expiresAt - 86_400_000 * 60])
            try db.execute(
                sql: "INSERT INTO ownerSession (tokenHash, owner, csrf, expiresAt) VALUES (?, ?, ?, ?)",
                arguments: [tokenHash, session.owner, session.csrf, session.expiresAt])
        }
    }

    public func session(tokenHash: String, now: Int64) throws -> OwnerSession? {
        try read { db in
            try Row.fetchOne(
                db, sql: "SELECT owner, csrf, expiresAt FROM ownerSession WHERE tokenHash = ? AND expiresAt > ?",
                arguments: [tokenHash, now]
            ).map { OwnerSession(owner: $0["owner"], csrf: $0["csrf"], expiresAt: $0["expiresAt"]) }
        }
    }

    public func deleteSession(tokenHash: String) throws {
        try write { db in try db.execute(sql: "DELETE FROM ownerSession WHERE tokenHash = ?", arguments: [tokenHash]) }
    }

    public func timeline(_ query: TimelineQuery) throws -> [StoredEvent] {
        var conditions = ["kind IN (\(query.kinds.map { _ in "?" }.joined(separator: ", ")))"]
        var arguments: [any DatabaseValueConvertible] = query.kinds.map(\.rawValue)
        if let device = query.device {
            conditions.append("deviceID = ?")
            arguments.append(device)
        }
        if let from = query.from {
            conditions.append("wallMilliseconds >= ?")
            arguments.append(from)
        }
        if let until = query.until {
            conditions.append("wallMilliseconds < ?")
            arguments.append(until)
        }
        if let before = query.before {
            conditions.append("sequence < ?")
            arguments.append(before)
        }
        arguments.append(query.limit)
        return try storedEvents(
            sql: "SELECT * FROM event WHERE \(conditions.joined(separator: " AND ")) ORDER BY sequence DESC LIMIT ?",
            arguments: StatementArguments(arguments))
    }

    public func related(to eventID: String) throws -> [StoredEvent] {
        try storedEvents(sql: "SELECT * FROM event WHERE eventID = ? ORDER BY sequence", arguments: [eventID])
    }

    public func media(_ mediaID: String, from deviceID: String, complete: Bool) throws -> MediaRecord? {
        guard let record = try media(mediaID, from: deviceID) else { return nil }
        return !complete || record.completedAt != nil ? record : nil
    }
}

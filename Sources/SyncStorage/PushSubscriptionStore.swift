import Foundation
import GRDB

/// A browser the owner asked to notify (docs/notifications.md): where its push service takes
/// messages, the keys they are encrypted for, what it wants to hear, and how the last delivery
/// went. The endpoint names the browser: subscribing again from it replaces the record.
public struct PushSubscriptionRecord: Sendable, Equatable {
    public var id: String
    public var owner: String
    public var label: String
    public var endpoint: String
    /// base64url, as the browser gave them (checked by WebPush before they are stored).
    public var p256dh: String
    public var auth: String
    public var rings: Bool
    public var motion: Bool
    /// Rings notify this browser even when the doorbell's chime is silenced (do not disturb,
    /// quiet hours).
    public var duringQuiet: Bool
    public var createdAt: Int64
    public var lastDeliveryAt: Int64?
    public var lastError: String?
    public var lastErrorAt: Int64?

    public init(
        id: String, owner: String, label: String, endpoint: String, p256dh: String, auth: String, rings: Bool = true,
        motion: Bool = false, duringQuiet: Bool = false, createdAt: Int64
    ) {
        self.id = id
        self.owner = owner
        self.label = label
        self.endpoint = endpoint
        self.p256dh = p256dh
        self.auth = auth
        self.rings = rings
        self.motion = motion
        self.duringQuiet = duringQuiet
        self.createdAt = createdAt
    }
}

public enum PushSubscriptionError: Error, Sendable, Equatable, CustomStringConvertible {
    case tooMany(Int)
    case invalidLabel

    public var description: String {
        switch self {
        case .tooMany(let limit): "at most \(limit) browsers can be notified; remove one on the Notifications page"
        case .invalidLabel: "expected a label of 1 to 64 characters"
        }
    }
}

public protocol PushSubscriptionStore: Sendable {
    /// Adds `record`, or replaces the one with the same endpoint (keeping that one's id).
    func savePushSubscription(_ record: PushSubscriptionRecord) throws -> PushSubscriptionRecord
    func pushSubscriptions() throws -> [PushSubscriptionRecord]
    /// Returns whether there was one to remove.
    @discardableResult
    func removePushSubscription(_ id: String) throws -> Bool
    func recordPushDelivery(_ id: String, at: Int64) throws
    func recordPushFailure(_ id: String, error: String, at: Int64) throws
}

extension SQLiteSyncStore: PushSubscriptionStore {
    /// A bound on rows an owner's session can add.
    public static let maxPushSubscriptions = 32

    static func registerPushMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9-push-subscriptions") { db in
            try db.create(table: "pushSubscription") { table in
                table.primaryKey("id", .text)
                table.column("owner", .text).notNull()
                table.column("label", .text).notNull()
                table.column("endpoint", .text).notNull().unique()
                table.column("p256dh", .text).notNull()
                table.column("auth", .text).notNull()
                table.column("rings", .boolean).notNull()
                table.column("motion", .boolean).notNull()
                table.column("duringQuiet", .boolean).notNull()
                table.column("createdAt", .integer).notNull()
                table.column("lastDeliveryAt", .integer)
                table.column("lastError", .text)
                table.column("lastErrorAt", .integer)
            }
        }
    }

    public func savePushSubscription(_ record: PushSubscriptionRecord) throws -> PushSubscriptionRecord {
        guard (1...64).contains(record.label.count) else { throw PushSubscriptionError.invalidLabel }
        return try write { db in
            var saved = record
            if let id = try String.fetchOne(
                db, sql: "SELECT id FROM pushSubscription WHERE endpoint = ?", arguments: [record.endpoint])
            {
                saved.id = id
                try db.execute(
                    sql: """
                        UPDATE pushSubscription SET owner = ?, label = ?, p256dh = ?, auth = ?, rings = ?, motion = ?,
                        duringQuiet = ?, lastError = NULL, lastErrorAt = NULL WHERE id = ?
                        """,
                    arguments: [
                        record.owner, record.label, record.p256dh, record.auth, record.rings, record.motion,
                        record.duringQuiet, id,
                    ])
                return saved
            }
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM pushSubscription") ?? 0
            guard count < Self.maxPushSubscriptions else {
                throw PushSubscriptionError.tooMany(Self.maxPushSubscriptions)
            }
            try db.execute(
                sql: """
                    INSERT INTO pushSubscription (id, owner, label, endpoint, p256dh, auth, rings, motion, duringQuiet,
                    createdAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.id, record.owner, record.label, record.endpoint, record.p256dh, record.auth, record.rings,
                    record.motion, record.duringQuiet, record.createdAt,
                ])
            return saved
        }
    }

    public func pushSubscriptions() throws -> [PushSubscriptionRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM pushSubscription ORDER BY createdAt, id").map { row in
                var record = try PushSubscriptionRecord(
                    id: row.decode(forColumn: "id"), owner: row.decode(forColumn: "owner"),
                    label: row.decode(forColumn: "label"), endpoint: row.decode(forColumn: "endpoint"),
                    p256dh: row.decode(forColumn: "p256dh"), auth: row.decode(forColumn: "auth"),
                    rings: row.decode(forColumn: "rings"), motion: row.decode(forColumn: "motion"),
                    duringQuiet: row.decode(forColumn: "duringQuiet"), createdAt: row.decode(forColumn: "createdAt"))
                record.lastDeliveryAt = try row.decode(forColumn: "lastDeliveryAt")
                record.lastError = try row.decode(forColumn: "lastError")
                record.lastErrorAt = try row.decode(forColumn: "lastErrorAt")
                return record
            }
        }
    }

    public func removePushSubscription(_ id: String) throws -> Bool {
        try write { db in
            try db.execute(sql: "DELETE FROM pushSubscription WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    public func recordPushDelivery(_ id: String, at: Int64) throws {
        try write { db in
            try db.execute(sql: "UPDATE pushSubscription SET lastDeliveryAt = ? WHERE id = ?", arguments: [at, id])
        }
    }

    public func recordPushFailure(_ id: String, error: String, at: Int64) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE pushSubscription SET lastError = ?, lastErrorAt = ? WHERE id = ?",
                arguments: [String(error.prefix(300)), at, id])
        }
    }
}

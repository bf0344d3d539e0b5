import Crypto
import Foundation
import GRDB
import Logging
import Privacy
import Synchronization
import SyncProtocol

/// Each doorbell's talk key, which the owner's voice is sealed for (docs/privacy.md, "Talk"):
/// sent at pairing, or reported by a doorbell paired before there were talk keys, signed by its
/// device key; pinned the first time and never replaced from the channel. Pairing again replaces it.
public protocol TalkKeyStore: Sendable {
    /// The pinned key (the P-256 point), if any.
    func talkKey(of device: String) throws -> Data?
    /// Pins `point` for `device` unless a key is pinned already; returns the key pinned now.
    func pinTalkKey(_ point: Data, for device: String) throws -> Data?
}

extension SQLiteSyncStore: TalkKeyStore {
    static func registerTalkKeyMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v8-talk-keys") { db in
            try db.alter(table: "device") { table in table.add(column: "talkKey", .blob) }
        }
    }

    public func talkKey(of device: String) throws -> Data? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT talkKey FROM device WHERE id = ?", arguments: [device])?
                .decode(forColumn: "talkKey")
        }
    }

    public func pinTalkKey(_ point: Data, for device: String) throws -> Data? {
        try write { db in
            try db.execute(
                sql: "UPDATE device SET talkKey = ? WHERE id = ? AND talkKey IS NULL", arguments: [point, device])
            return try Row.fetchOne(db, sql: "SELECT talkKey FROM device WHERE id = ?", arguments: [device])?
                .decode(forColumn: "talkKey")
        }
    }
}

/// Checks a talk key a doorbell sends (base64, at pairing or in a status report): its device
/// key's signature, and a P-256 point.
public enum TalkKeyCheck {
    public static func point(_ talkKey: String?, signature: String?, devicePublicKey: Data) -> Data? {
        guard let point = talkKey.flatMap({ Data(base64Encoded: $0) }), point.count == 65,
            let signature = signature.flatMap({ Data(base64Encoded: $0) }),
            (try? P256.KeyAgreement.PublicKey(x963Representation: point)) != nil,
            DeviceIdentity.isValid(signature, for: TalkSeal.keyMessage(point), by: devicePublicKey)
        else { return nil }
        return point
    }
}

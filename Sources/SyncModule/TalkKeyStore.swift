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
enum TalkKeyCheck {
    static func point(_ talkKey: String?, signature: String?, devicePublicKey: Data) -> Data? {
        guard let point = talkKey.flatMap({ Data(base64Encoded: $0) }), point.count == 65,
            let signature = signature.flatMap({ Data(base64Encoded: $0) }),
            (try? P256.KeyAgreement.PublicKey(x963Representation: point)) != nil,
            DeviceIdentity.isValid(signature, for: TalkSeal.keyMessage(point), by: devicePublicKey)
        else { return nil }
        return point
    }
}

extension SyncAPI {
    /// Pins the talk key in `report` the first time `device` reports one; a different key later
    /// is refused and logged, and the pinned one stays. `pinned`: devices already checked.
    static func pinTalkKey(
        _ report: ControlMessage, of device: String, store: any SyncStore, pinned: PinnedTalkKeys,
        logger: Logger
    ) {
        guard pinned.devices.withLock({ $0.insert(device).inserted }), let talkKeys = store as? any TalkKeyStore
        else { return }
        guard let record = try? store.device(device),
            let point = TalkKeyCheck.point(
                report.talkKey, signature: report.talkKeySignature, devicePublicKey: record.publicKey)
        else {
            logger.error(
                "Refused a talk key the doorbell's device key did not sign.", metadata: ["device": "\(device)"])
            return
        }
        do {
            let kept = try talkKeys.pinTalkKey(point, for: device)
            if kept != point {
                logger.error(
                    "The doorbell reports another talk key than the one pinned; keeping the pinned one (pair it again to change it).",
                    metadata: ["device": "\(device)"])
            }
        } catch {
            pinned.devices.withLock { _ = $0.remove(device) }
            logger.error("Cannot pin the doorbell's talk key.", metadata: ["device": "\(device)", "error": "\(error)"])
        }
    }
}

/// The devices whose talk key was checked since the sync module started, so that a status report
/// every 15 s is not checked again.
final class PinnedTalkKeys: Sendable {
    let devices = Mutex<Set<String>>([])
}

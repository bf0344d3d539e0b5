import Logging
import Synchronization
import SyncProtocol
import SyncStorage

extension SyncAPI {
    /// Pins the talk key in `report` the first time `device` reports one; a different key later
    /// is refused and logged, and the pinned one stays. `pinned`: devices already checked.
    static func pinTalkKey(
        _ report: StatusReport, of device: String, store: any HubStore, pinned: PinnedTalkKeys,
        logger: Logger
    ) {
        guard pinned.devices.withLock({ $0.insert(device).inserted }) else { return }
        guard let record = try? store.device(device),
            let point = TalkKeyCheck.point(
                report.talkKey, signature: report.talkKeySignature, devicePublicKey: record.publicKey)
        else {
            logger.error(
                "Refused a talk key the doorbell's device key did not sign.", metadata: ["device": "\(device)"])
            return
        }
        do {
            let kept = try store.pinTalkKey(point, for: device)
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

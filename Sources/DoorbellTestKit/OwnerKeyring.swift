import Foundation
import Privacy
import SyncProtocol

/// The owner's keys as the page makes them (docs/privacy.md, "Key trust"): a recovery key signed
/// by itself and a key for each browser signed by the recovery key. For tests that register keys
/// at a sync module and pin the recovery key on a doorbell.
public struct OwnerKeyring: Sendable {
    public let recovery = OwnerKey()
    public let browser = OwnerKey()

    public init() {}

    /// The recovery key's signature over `key`'s point (base64), as the sync module and the
    /// doorbell check it; over its own point for the recovery key itself.
    public func signature(of key: OwnerPublicKey) -> String {
        // Signing with a valid P-256 scalar cannot fail.
        (try? KeyEndorsement.sign(key.x963, with: recovery).base64EncodedString()) ?? ""
    }

    /// The recovery key's fingerprint, as the Keys page shows it.
    public var fingerprint: String { OwnerPublicKey.fingerprint(ofID: recovery.publicKey.id) }

    /// The list the sync module sends: the recovery key and the browser's key, each signed.
    public var wire: [OwnerKeyWire] {
        [
            OwnerKeyWire(
                id: recovery.publicKey.id, label: "recovery", publicKey: recovery.publicKey.base64,
                signature: signature(of: recovery.publicKey)),
            OwnerKeyWire(
                id: browser.publicKey.id, label: "browser", publicKey: browser.publicKey.base64,
                signature: signature(of: browser.publicKey)),
        ]
    }
}

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

extension OwnerKeyring {
    /// A command signed by this browser's key for `device`, as the page makes it, now and with a
    /// fresh nonce.
    public func command(
        _ name: CommandName, id: String, device: String, maxSeconds: Int? = nil, reply: String? = nil,
        session: String? = nil, talk: TalkSeal.Wrapped? = nil,
        at: Int64 = Int64(Date().timeIntervalSince1970 * 1000), by key: OwnerKey? = nil
    ) -> ControlCommand {
        let nonce = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let signer = key ?? browser
        let command = OwnerCommand(
            device: device, name: name.rawValue, at: at, nonce: nonce, key: signer.publicKey.id, maxSeconds: maxSeconds,
            reply: reply, session: session, talk: talk)
        // Encoding a struct of strings and numbers and signing with a valid scalar cannot fail.
        let (text, signature) = (try? command.signed(by: signer)) ?? ("", "")
        return ControlCommand(name, id: id, signed: text, signature: signature)
    }
}

/// The owner's side of one sealed talk session, as the page runs it: the session id, the signed
/// `talk-start` carrying the owner's voice key wrapped for the doorbell's talk key, and the
/// cipher for the owner's frames.
public struct OwnerTalk: Sendable {
    public let session: String
    public let start: ControlCommand
    public let toDoor: TalkCipher
    let keyring: OwnerKeyring

    /// The cipher for the door's frames, from the header the doorbell answered `talk-start` with.
    public func fromDoor(_ header: some Sequence<UInt8>) throws -> TalkCipher {
        TalkCipher(
            key: try TalkSeal.openDoorHeader(Array(header), session: session, with: keyring.browser, voice: toDoor),
            direction: .toOwner)
    }
}

extension OwnerKeyring {
    /// A talk session with `device`, whose talk key is the point `talkKey`.
    public func talk(device: String, talkKey: Data, id: String = "talk") throws -> OwnerTalk {
        let session = UUID().uuidString
        let (wrapped, cipher) = try TalkSeal.ownerSide(session: session, talkKey: talkKey)
        return OwnerTalk(
            session: session, start: command(.talkStart, id: id, device: device, session: session, talk: wrapped),
            toDoor: cipher, keyring: self)
    }
}

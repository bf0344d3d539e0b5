import Crypto
import Foundation

/// An owner's key pair (one per phone or browser): P-256, so that a browser can use it with
/// WebCrypto alone. Media is sealed for the public halves; only the owner holds the private ones.
/// (Kept as raw bytes: swift-crypto's key types are not Sendable on Linux.)
public struct OwnerKey: Sendable {
    public let rawRepresentation: Data

    public init() {
        rawRepresentation = P256.KeyAgreement.PrivateKey().rawRepresentation
    }

    public init(rawRepresentation: Data) throws {
        self.rawRepresentation = try P256.KeyAgreement.PrivateKey(rawRepresentation: rawRepresentation)
            .rawRepresentation
    }

    public var privateKey: P256.KeyAgreement.PrivateKey {
        // Validated at init.
        try! P256.KeyAgreement.PrivateKey(rawRepresentation: rawRepresentation)
    }

    public var publicKey: OwnerPublicKey { OwnerPublicKey(privateKey.publicKey) }
}

/// The public half of an owner key, as the doorbell holds it: the key and its id (the first 16
/// bytes of the SHA-256 of its uncompressed point, in hex), which names it in sealed media.
public struct OwnerPublicKey: Sendable, Equatable {
    /// The uncompressed point (65 bytes).
    public let x963: Data
    public let id: String

    public init(_ key: P256.KeyAgreement.PublicKey) {
        x963 = key.x963Representation
        id = SHA256.hash(data: x963).prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    public var key: P256.KeyAgreement.PublicKey {
        // Validated at init.
        try! P256.KeyAgreement.PublicKey(x963Representation: x963)
    }

    /// From the uncompressed point (65 bytes, as WebCrypto exports "raw"), base64.
    public init(base64 text: String) throws(SealError) {
        guard let data = Data(base64Encoded: text),
            let key = try? P256.KeyAgreement.PublicKey(x963Representation: data)
        else { throw SealError.malformed("an owner key must be a base64 P-256 point (65 bytes)") }
        self.init(key)
    }

    public var base64: String { x963.base64EncodedString() }

    public static func == (a: Self, b: Self) -> Bool { a.id == b.id }
}

public enum SealError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    /// None of the item's recipients is the key at hand.
    case notForThisKey(recipients: [String])
    /// A chunk does not authenticate: edited, reordered, or from another item.
    case tampered(chunk: Int)
    case noRecipients

    public var description: String {
        switch self {
        case .malformed(let what): "not a sealed media item: \(what)"
        case .notForThisKey(let recipients):
            "this item is sealed for other keys (\(recipients.joined(separator: ", "))), not this one"
        case .tampered(let chunk): "chunk \(chunk) does not authenticate: the item was altered"
        case .noRecipients:
            "there is no owner key to seal for (every key was revoked), so nothing is kept; add a key on the Keys page"
        }
    }
}

extension OwnerPublicKey {
    /// A key's id in groups of four hex digits, to compare by eye (the keys page, `porchlightctl status`).
    public static func fingerprint(ofID id: String) -> String {
        var groups: [Substring] = []
        var rest = Substring(id)
        while !rest.isEmpty {
            groups.append(rest.prefix(4))
            rest = rest.dropFirst(4)
        }
        return groups.joined(separator: "-")
    }
}

/// What an owner key may open. A notification key (one per browser that takes push
/// notifications, made there as a non-extractable WebCrypto key) opens the small notification
/// thumbnails only; snapshots, clips, live view and talk are never sealed for it.
public enum OwnerKeyRole: String, Sendable, Codable, CaseIterable {
    case owner
    case notification

    /// What the recovery key signs: the role is in the signed text, so that a sync module cannot
    /// present a notification key as an owner key.
    var prefix: String {
        switch self {
        case .owner: "porchlight owner key v1\n"
        case .notification: "porchlight notification key v1\n"
        }
    }
}

/// The recovery key vouches for each of the owner's other keys (docs/privacy.md, "Key trust"): an
/// ECDSA P-256 / SHA-256 signature, made in the browser with the recovery key's private scalar,
/// over a fixed prefix naming the key's role and the key's uncompressed point. A doorbell that has
/// pinned the recovery key seals only for keys it vouched for, and only what each role may open,
/// so a sync module can neither add a key of its own nor widen one.
public enum KeyEndorsement {
    static func message(for point: Data, role: OwnerKeyRole) -> Data { Data(role.prefix.utf8) + point }

    /// `signature`: raw r‖s (64 bytes), as WebCrypto makes it.
    public static func isValid(
        _ signature: Data, for point: Data, by recoveryPoint: Data, role: OwnerKeyRole = .owner
    ) -> Bool {
        guard let key = try? P256.Signing.PublicKey(x963Representation: recoveryPoint),
            let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
        else { return false }
        return key.isValidSignature(parsed, for: message(for: point, role: role))
    }

    /// What the page does, for tests and tools: `recovery` signs `point` for `role`.
    public static func sign(_ point: Data, with recovery: OwnerKey, role: OwnerKeyRole = .owner) throws -> Data {
        try P256.Signing.PrivateKey(rawRepresentation: recovery.rawRepresentation)
            .signature(for: message(for: point, role: role)).rawRepresentation
    }
}

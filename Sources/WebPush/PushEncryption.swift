import Crypto
import Foundation

/// Message encryption for Web Push (RFC 8291) in the `aes128gcm` content coding (RFC 8188): one
/// record, sealed for the browser's `p256dh` key and `auth` secret with a fresh sender key per
/// message. The push service carries ciphertext only; it learns the size and the time.
public enum PushEncryption {
    /// The record size written in the header. A push message is one record, and push services
    /// take at most 4096 bytes of body (RFC 8030 section 7.2), so this bounds the payload too.
    public static let recordSize = 4096
    /// Header: salt (16), record size (4), key id length (1), the sender's key (65).
    static let headerSize = 16 + 4 + 1 + 65
    /// The most plaintext one message can hold: the body is at most 4096 bytes, less the header,
    /// the padding delimiter and the tag.
    public static let maxPlaintext = recordSize - headerSize - 1 - 16

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case tooLarge(Int)
        case badKey

        public var description: String {
            switch self {
            case .tooLarge(let size): "a push payload holds at most \(maxPlaintext) bytes, not \(size)"
            case .badKey: "the subscription's p256dh is not a P-256 point"
            }
        }
    }

    /// Encrypts `plaintext` for a browser. `senderKey` and `salt` are fresh for every message;
    /// tests pass their own to compare with RFC 8291's worked example.
    public static func encrypt(
        _ plaintext: Data, for subscription: PushSubscription,
        senderKey: P256.KeyAgreement.PrivateKey = .init(), salt: Data = randomBytes(16)
    ) throws(Failure) -> Data {
        guard plaintext.count <= maxPlaintext else { throw .tooLarge(plaintext.count) }
        guard let browserKey = try? P256.KeyAgreement.PublicKey(x963Representation: subscription.p256dh) else {
            throw .badKey
        }
        guard let shared = try? senderKey.sharedSecretFromKeyAgreement(with: browserKey) else { throw .badKey }
        let senderPoint = senderKey.publicKey.x963Representation
        // RFC 8291 section 3.4: the auth secret and both public keys go into the input keying material.
        let keyInfo = Data("WebPush: info\0".utf8) + subscription.p256dh + senderPoint
        let ikm = shared.hkdfDerivedSymmetricKey(
            using: SHA256.self, salt: subscription.auth, sharedInfo: keyInfo, outputByteCount: 32)
        let contentKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: ikm, salt: salt, info: Data("Content-Encoding: aes128gcm\0".utf8), outputByteCount: 16)
        let nonce = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: ikm, salt: salt, info: Data("Content-Encoding: nonce\0".utf8), outputByteCount: 12)
        // The last (only) record's padding delimiter is 2 (RFC 8188 section 2).
        let padded = plaintext + [0x02]
        // Valid by construction: a 16-byte key and a 12-byte nonce.
        let sealed = try! AES.GCM.seal(
            padded, using: contentKey,
            nonce: AES.GCM.Nonce(data: nonce.withUnsafeBytes { Data($0) }))
        var body = Data(capacity: headerSize + sealed.ciphertext.count + 16)
        body += salt
        body += withUnsafeBytes(of: UInt32(recordSize).bigEndian) { Data($0) }
        body.append(UInt8(senderPoint.count))
        body += senderPoint
        body += sealed.ciphertext
        body += sealed.tag
        return body
    }

    public static func randomBytes(_ count: Int) -> Data {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
    }
}

import Crypto
import Foundation

/// Talk audio sealed end to end (docs/privacy.md, "Talk"). Each session has two AES-128-GCM keys,
/// one per direction, so the sync module relays only ciphertext:
/// - door to owner: the doorbell makes the key and sends it first as a sealed-media header (media
///   `talk-<session>`, kind `talk`, no chunks), wrapped with HPKE for the owner's keys as every
///   picture is;
/// - owner to door: the browser makes the key and wraps it with HPKE for the doorbell's talk key
///   inside the signed `talk-start`, so the doorbell knows the owner chose it. The doorbell's talk
///   key is signed by its device key and pinned by the sync module at pairing.
///
/// A frame is a 4-byte big-endian sequence number, then the 640 bytes of PCM sealed with the
/// direction and the sequence number as the nonce, and the 16-byte tag: 660 bytes.
public enum TalkSeal {
    /// The owner's voice key, wrapped for the doorbell's talk key (HPKE base mode, as sealed media).
    public struct Wrapped: Codable, Sendable, Equatable {
        public var enc: String
        public var wrapped: String

        public init(enc: String, wrapped: String) {
            self.enc = enc
            self.wrapped = wrapped
        }
    }

    public static let pcmSize = 640
    public static let frameSize = 4 + pcmSize + 16

    static func info(_ session: String) -> Data { Data("porchlight talk v1 \(session)".utf8) }
    static let toDoorLabel = Data("owner to door".utf8)

    /// What the device key signs to publish the doorbell's talk key.
    public static func keyMessage(_ point: Data) -> Data { Data("porchlight talk key v1\n".utf8) + point }

    /// The browser's step, for tests and tools: a fresh key for the owner's voice, wrapped for the
    /// doorbell's talk key (the point), and the cipher that seals with it.
    public static func ownerSide(session: String, talkKey: Data) throws -> (wrapped: Wrapped, cipher: TalkCipher) {
        let key = SymmetricKey(size: .bits128)
        return (try wrap(key, session: session, for: talkKey), TalkCipher(key: key, direction: .toDoor))
    }

    static func wrap(_ key: SymmetricKey, session: String, for talkKey: Data) throws -> Wrapped {
        let recipient = try P256.KeyAgreement.PublicKey(x963Representation: talkKey)
        var sender = try HPKE.Sender(recipientKey: recipient, ciphersuite: SealedMedia.suite, info: info(session))
        let sealed = try sender.seal(key.withUnsafeBytes { Data($0) }, authenticating: toDoorLabel)
        return Wrapped(enc: sender.encapsulatedKey.base64EncodedString(), wrapped: sealed.base64EncodedString())
    }

    /// The doorbell's step: the owner's voice key, unwrapped with its talk key.
    public static func unwrap(_ wrapped: Wrapped, session: String, with talkKey: OwnerKey) throws(SealError)
        -> SymmetricKey
    {
        guard let enc = Data(base64Encoded: wrapped.enc), let box = Data(base64Encoded: wrapped.wrapped) else {
            throw .malformed("the talk key is not base64")
        }
        do {
            var opener = try HPKE.Recipient(
                privateKey: talkKey.privateKey, ciphersuite: SealedMedia.suite, info: info(session),
                encapsulatedKey: enc)
            let raw = try opener.open(box, authenticating: toDoorLabel)
            guard raw.count == 16 else { throw SealError.malformed("the owner's talk key is not 128 bits") }
            return SymmetricKey(data: raw)
        } catch {
            throw .tampered(chunk: -1)
        }
    }

    /// The doorbell's key for its side of `session`, and what carries it to the owner: the header,
    /// then an HMAC-SHA-256 of it under the owner's voice key (`voice`'s). The header alone could
    /// come from anyone who knows the owner's public keys, the relay included; the HMAC shows it
    /// comes from whoever opened the voice key, which was sealed for the doorbell's talk key.
    public static func doorHeader(session: String, for recipients: [OwnerPublicKey], answering voice: TalkCipher)
        throws(SealError) -> (header: [UInt8], key: SymmetricKey)
    {
        let sealer = try MediaSealer(media: media(session), kind: "talk", recipients: recipients)
        return (sealer.header + proof(sealer.header, voice: voice), sealer.key)
    }

    static func proof(_ header: [UInt8], voice: TalkCipher) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Data("porchlight talk header v1\n".utf8) + header, using: voice.key))
    }

    /// The owner's step, for tests and tools: the door's key from its answer, if the doorbell that
    /// opened `voice` made it, for this session.
    public static func openDoorHeader(_ bytes: [UInt8], session: String, with owner: OwnerKey, voice: TalkCipher)
        throws(SealError) -> SymmetricKey
    {
        guard bytes.count >= 8 + 32 else { throw .malformed("the talk header is cut short") }
        let length = bytes[4..<8].reduce(0) { $0 << 8 | Int($1) }
        guard length <= 1 << 16, 8 + length + 32 == bytes.count else {
            throw .malformed("the talk header is not followed by its 32-byte proof")
        }
        let header = Array(bytes[..<(8 + length)])
        guard proof(header, voice: voice) == Array(bytes.suffix(32)) else {
            throw .malformed("the talk header was not made by the doorbell that opened the owner's voice key")
        }
        let (opened, _, key) = try SealedMedia.unwrap(header, with: owner)
        guard opened.kind == "talk", opened.media == media(session) else {
            throw .malformed("the talk header is for \(opened.kind) \(opened.media), not this session")
        }
        return key
    }

    static func media(_ session: String) -> String { "talk-\(session)" }
}

/// One direction of a talk session. Sealing numbers frames from 0; opening refuses a frame that
/// does not authenticate, and one whose number is not above the last opened (replayed or reordered).
public struct TalkCipher: Sendable {
    public enum Direction: UInt32, Sendable {
        case toOwner = 0
        case toDoor = 1
    }

    /// Kept as bytes: swift-crypto's key types are not Sendable on Linux.
    let raw: Data
    let direction: Direction
    private var next: UInt32 = 0

    public init(key: SymmetricKey, direction: Direction) {
        raw = key.withUnsafeBytes { Data($0) }
        self.direction = direction
    }

    var key: SymmetricKey { SymmetricKey(data: raw) }

    func nonce(_ sequence: UInt32) -> AES.GCM.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for (index, shift) in [24, 16, 8, 0].enumerated() {
            bytes[index] = UInt8(truncatingIfNeeded: direction.rawValue >> shift)
            bytes[8 + index] = UInt8(truncatingIfNeeded: sequence >> shift)
        }
        // Twelve bytes are always a valid nonce.
        return try! AES.GCM.Nonce(data: bytes)
    }

    /// `pcm` (640 bytes) sealed as frame `sequence`.
    public func seal(_ pcm: [UInt8], sequence: UInt32) -> [UInt8] {
        // A fresh 128-bit key and a 12-byte nonce cannot fail to seal.
        let box = try! AES.GCM.seal(pcm, using: key, nonce: nonce(sequence))
        var out = [UInt8]()
        out.reserveCapacity(TalkSeal.frameSize)
        for shift in [24, 16, 8, 0] { out.append(UInt8(truncatingIfNeeded: sequence >> shift)) }
        out += box.ciphertext
        out += box.tag
        return out
    }

    /// The PCM of a sealed frame and its number.
    public mutating func open(_ frame: some Collection<UInt8>) throws(TalkFrameRefusal) -> (
        sequence: UInt32, pcm: [UInt8]
    ) {
        guard frame.count == TalkSeal.frameSize else { throw .size(frame.count) }
        let bytes = Array(frame)
        let sequence = bytes[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
        guard sequence >= next else { throw .outOfOrder(sequence: sequence, expected: next) }
        guard
            let box = try? AES.GCM.SealedBox(
                nonce: nonce(sequence), ciphertext: bytes[4..<(4 + TalkSeal.pcmSize)],
                tag: bytes[(4 + TalkSeal.pcmSize)...]),
            let pcm = try? AES.GCM.open(box, using: key)
        else { throw .tampered(sequence: sequence) }
        next = sequence &+ 1
        return (sequence, Array(pcm))
    }
}

public enum TalkFrameRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    case size(Int)
    case outOfOrder(sequence: UInt32, expected: UInt32)
    case tampered(sequence: UInt32)

    public var description: String {
        switch self {
        case .size(let count): "a sealed talk frame is \(TalkSeal.frameSize) bytes, not \(count)"
        case .outOfOrder(let sequence, let expected):
            "talk frame \(sequence) came after \(expected - 1): replayed or reordered"
        case .tampered(let sequence): "talk frame \(sequence) does not authenticate"
        }
    }
}

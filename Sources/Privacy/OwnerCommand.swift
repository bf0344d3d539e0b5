import Crypto
import Foundation

/// A command the owner's browser signs for one doorbell (docs/privacy.md, "Owner-signed
/// commands"): live view, talk, snapshot-now and quick replies. The sync module relays the signed
/// text as it is and cannot make one, so it cannot open the camera or the microphone on its own.
/// The doorbell checks the signature against the owner keys the recovery key vouched for, and
/// freshness by the time and nonce.
public struct OwnerCommand: Codable, Sendable, Equatable {
    public var v = 1
    /// The doorbell it is for, so that a command for one door cannot be played to another.
    public var device: String
    public var name: String
    /// When the browser signed it (ms since 1970), and a random nonce used once.
    public var at: Int64
    public var nonce: String
    /// The id of the owner key that signed.
    public var key: String
    public var maxSeconds: Int?
    public var reply: String?
    /// `talk-start`: the session, chosen by the browser, and the owner's voice key wrapped for
    /// the doorbell's talk key.
    public var session: String?
    public var talk: TalkSeal.Wrapped?

    public init(
        device: String, name: String, at: Int64, nonce: String, key: String, maxSeconds: Int? = nil,
        reply: String? = nil, session: String? = nil, talk: TalkSeal.Wrapped? = nil
    ) {
        self.device = device
        self.name = name
        self.at = at
        self.nonce = nonce
        self.key = key
        self.maxSeconds = maxSeconds
        self.reply = reply
        self.session = session
        self.talk = talk
    }

    /// Whether `text` is `length` ASCII letters, digits, `-` or `_`: nonces and session ids.
    public static func isToken(_ text: String, length: ClosedRange<Int>) -> Bool {
        length.contains(text.utf8.count)
            && text.utf8.allSatisfy {
                switch $0 {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                    true
                default: false
                }
            }
    }

    /// The longest signed text a doorbell reads.
    public static let maximumText = 4096

    static func message(_ text: String) -> Data { Data("porchlight command v1\n".utf8) + Data(text.utf8) }

    /// What the page does, for tests and tools: the JSON text and its ECDSA P-256 / SHA-256
    /// signature (raw r‖s, base64) by `owner`.
    public func signed(by owner: OwnerKey) throws -> (text: String, signature: String) {
        let text = String(decoding: try JSONEncoder().encode(self), as: UTF8.self)
        let signature = try P256.Signing.PrivateKey(rawRepresentation: owner.rawRepresentation)
            .signature(for: Self.message(text))
        return (text, signature.rawRepresentation.base64EncodedString())
    }

    /// The command in `text`, if `signature` (raw r‖s, base64) is one by the key it names among
    /// `keys`. Parses nothing before the size is checked, and checks the signature before any
    /// field is trusted.
    public static func verified(
        _ text: String, signature: String, keys: [OwnerPublicKey]
    ) throws(CommandRefusal) -> (command: OwnerCommand, signer: OwnerPublicKey) {
        guard text.utf8.count <= maximumText else {
            throw .malformed("the signed command is over \(maximumText) bytes")
        }
        guard let raw = Data(base64Encoded: signature), raw.count == 64,
            let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: raw)
        else { throw .malformed("the signature is not 64 bytes of base64") }
        guard let command = try? JSONDecoder().decode(OwnerCommand.self, from: Data(text.utf8)), command.v == 1 else {
            throw .malformed("the signed command is not version-1 JSON")
        }
        guard let signer = keys.first(where: { $0.id == command.key }) else { throw .unknownKey(command.key) }
        guard let verifying = try? P256.Signing.PublicKey(x963Representation: signer.x963),
            verifying.isValidSignature(parsed, for: message(text))
        else { throw .badSignature }
        return (command, signer)
    }
}

/// Why the doorbell refused a command; the text goes back to the sync module and into the
/// doorbell's access log.
public enum CommandRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    case unsigned
    case malformed(String)
    /// Signed by a key the doorbell does not hold: never vouched for, or revoked.
    case unknownKey(String)
    case badSignature
    /// Signed for another doorbell or another command than the one relayed.
    case mismatch(String)
    case stale(String)
    case replayed

    public var description: String {
        switch self {
        case .unsigned: "the command is not signed by an owner key"
        case .malformed(let what): "the signed command is malformed: \(what)"
        case .unknownKey(let id):
            "signed by key \(id.prefix(32)), which this doorbell does not hold (never vouched for, or revoked)"
        case .badSignature: "the owner's signature does not verify: the command was altered or forged"
        case .mismatch(let what): "the signed command is for \(what)"
        case .stale(let what): "the signed command is not fresh: \(what)"
        case .replayed: "the signed command was already used once (replayed)"
        }
    }
}

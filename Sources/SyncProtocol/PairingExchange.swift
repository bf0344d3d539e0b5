import Crypto
import Foundation

/// The bytes of the pairing exchange (docs/protocol.md, "Pairing"), parsed and checked in one
/// place for both ends: the doorbell reads the certificate reply and the pairing reply, which come
/// before any trust exists; the sync module reads the pairing request from a stranger. Each parse
/// bounds what it takes and names what is wrong; none traps (the fuzz target `pairing`).
public enum PairingExchange {
    /// What `POST /v1/pair` carries.
    public struct Request: Sendable, Equatable {
        public var code: String
        /// The doorbell's Ed25519 public key, 32 bytes.
        public var publicKey: Data
        /// 1 to 64 characters.
        public var name: String
        /// The doorbell's talk key (base64 P-256 point) and its device key's signature over it
        /// (base64), which the sync module checks and pins (docs/privacy.md, "Talk").
        public var talkKey: String?
        public var talkKeySignature: String?
    }

    struct RequestBody: Codable {
        var code: String
        var publicKey: String
        var name: String
        var talkKey: String?
        var talkKeySignature: String?
    }

    public static func requestBody(
        code: String, publicKey: Data, name: String, talkKey: (point: Data, signature: Data)? = nil
    ) throws -> Data {
        try JSONEncoder().encode(
            RequestBody(
                code: code, publicKey: publicKey.base64EncodedString(), name: name,
                talkKey: talkKey?.point.base64EncodedString(),
                talkKeySignature: talkKey?.signature.base64EncodedString()))
    }

    /// The pairing request as the sync module checks it; nil for anything else.
    public static func request(from body: Data) -> Request? {
        guard let decoded = try? JSONDecoder().decode(RequestBody.self, from: body),
            decoded.code.utf8.count <= 64, let publicKey = Data(base64Encoded: decoded.publicKey),
            publicKey.count == 32, (1...64).contains(decoded.name.count),
            (decoded.talkKey?.utf8.count ?? 0) <= 128, (decoded.talkKeySignature?.utf8.count ?? 0) <= 128
        else { return nil }
        return Request(
            code: decoded.code, publicKey: publicKey, name: decoded.name, talkKey: decoded.talkKey,
            talkKeySignature: decoded.talkKeySignature)
    }

    /// The most a reply may hold: a certificate is about 700 bytes.
    public static let maximumReply = 1 << 16

    /// The certificate reply of `GET /v1/certificate` (`{"certificate": PEM}`): the PEM and its
    /// fingerprint, SHA-256 of the certificate's DER as colon-separated hex (what `pair-code`
    /// prints and the pairing code binds). Only the one PEM block is taken; the TLS stack parses
    /// the certificate itself once its fingerprint has been checked.
    public static func certificate(fromReply body: Data) throws(PairingReplyError) -> (pem: String, fingerprint: String)
    {
        guard body.count <= maximumReply,
            let pem = (try? JSONDecoder().decode([String: String].self, from: body))?["certificate"]
        else { throw .notACertificateReply }
        guard let der = der(ofPEM: pem) else { throw .malformedCertificate }
        return (pem, fingerprint(ofDER: der))
    }

    /// The DER inside a PEM text that holds exactly one `CERTIFICATE` block.
    public static func der(ofPEM pem: String) -> Data? {
        let begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----"
        let lines = pem.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard lines.count >= 3, lines.first == begin, lines.last == end else { return nil }
        let body = lines.dropFirst().dropLast()
        guard body.allSatisfy({ !$0.hasPrefix("-----") }),
            let der = Data(base64Encoded: body.joined()), !der.isEmpty, der.first == 0x30
        else { return nil }
        return der
    }

    public static func fingerprint(ofDER der: Data) -> String {
        SHA256.hash(data: der).map { String(format: "%02X", $0) }.joined(separator: ":")
    }

    /// The device id of a pairing reply (`201`, `{"deviceID": ...}`); nil for anything else.
    public static func deviceID(fromReply body: Data) -> String? {
        guard body.count <= maximumReply,
            let id = (try? JSONDecoder().decode([String: String].self, from: body))?["deviceID"],
            (1...128).contains(id.utf8.count), id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") })
        else { return nil }
        return id
    }

    /// The owner's recovery key a pairing reply offers (`"recoveryKey"`, an uncompressed P-256
    /// point, base64), if it offers one that has the shape of one. The doorbell pins it only once the
    /// owner has compared its fingerprint.
    public static func recoveryKey(fromReply body: Data) -> String? {
        guard body.count <= maximumReply,
            let key = (try? JSONDecoder().decode([String: String].self, from: body))?["recoveryKey"],
            let point = Data(base64Encoded: key), point.count == 65, point.first == 4
        else { return nil }
        return key
    }

    /// The reason in a refusal (`{"error": ...}`), at most 200 characters of it, for the owner.
    public static func refusal(fromReply body: Data) -> String? {
        guard body.count <= maximumReply,
            let reason = (try? JSONDecoder().decode([String: String].self, from: body))?["error"]
        else { return nil }
        return String(reason.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }.prefix(200))
    }
}

public enum PairingReplyError: Error, Sendable, Equatable, CustomStringConvertible {
    case notACertificateReply
    case malformedCertificate

    public var description: String {
        switch self {
        case .notACertificateReply: "the reply holds no certificate; is it a Porchlight sync module?"
        case .malformedCertificate: "the reply's certificate is not one PEM certificate"
        }
    }
}

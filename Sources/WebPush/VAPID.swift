import Crypto
import Foundation

/// The sync module's application server key (VAPID, RFC 8292): a P-256 signing key made on first
/// start and kept in the state directory beside the TLS key. Browsers bind each subscription to
/// its public half, so push services take messages for it from this sync module only.
public struct VAPIDKey: Sendable {
    /// The private scalar (32 bytes). (Raw bytes: swift-crypto's key types are not Sendable on Linux.)
    let rawRepresentation: Data

    public init() { rawRepresentation = P256.Signing.PrivateKey().rawRepresentation }

    public init(rawRepresentation: Data) throws {
        self.rawRepresentation = try P256.Signing.PrivateKey(rawRepresentation: rawRepresentation).rawRepresentation
    }

    var privateKey: P256.Signing.PrivateKey {
        // Validated at init.
        try! P256.Signing.PrivateKey(rawRepresentation: rawRepresentation)
    }

    /// The uncompressed point, base64url: the page's `applicationServerKey` and the `k` parameter.
    public var publicKey: String { Base64URL.encode(privateKey.publicKey.x963Representation) }

    /// How long a token is good for: RFC 8292 allows at most 24 hours; push services refuse more.
    public static let lifetime: Int64 = 12 * 3600

    /// The `Authorization` header for a message to `audience` (the endpoint's origin), signed now.
    /// `subject` is how the push service can reach the operator: a `mailto:` or `https:` URL.
    public func authorization(audience: String, subject: String, now: Int64) -> String {
        let header = Base64URL.encode(Data(#"{"typ":"JWT","alg":"ES256"}"#.utf8))
        let claims: [String: Any] = ["aud": audience, "exp": now + Self.lifetime, "sub": subject]
        // Serialisable by construction: strings and an integer.
        let body = Base64URL.encode(try! JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]))
        let input = "\(header).\(body)"
        // ES256 in a JWT is raw r‖s (RFC 7518 section 3.4).
        let signature = try! privateKey.signature(for: Data(input.utf8)).rawRepresentation
        return "vapid t=\(input).\(Base64URL.encode(signature)), k=\(publicKey)"
    }

    /// Loads `path`, or makes it (mode 0600) when it does not exist. A file that exists but does
    /// not hold a key is an error, never a reason to make a new one: every subscription is bound
    /// to this key, and a new one would silently end them all.
    public static func loadOrCreate(path: String) throws -> VAPIDKey {
        if FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path), data.count <= 256,
                let text = String(data: data, encoding: .utf8),
                let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
                let key = try? VAPIDKey(rawRepresentation: raw)
            else { throw VAPIDKeyError.unreadable(path) }
            return key
        }
        let key = VAPIDKey()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw VAPIDKeyError.cannotWrite(path, errno: errno) }
        defer { close(fd) }
        let bytes = Array((key.rawRepresentation.base64EncodedString() + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else { throw VAPIDKeyError.cannotWrite(path, errno: errno) }
        return key
    }
}

public enum VAPIDKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(String)
    case cannotWrite(String, errno: Int32)

    public var description: String {
        switch self {
        case .unreadable(let path):
            "\(path) does not hold a push key; restore it from a backup (a new key would end every "
                + "browser's notifications), or remove it to make a new one and subscribe again"
        case .cannotWrite(let path, let errno): "cannot write \(path): \(String(cString: strerror(errno)))"
        }
    }
}

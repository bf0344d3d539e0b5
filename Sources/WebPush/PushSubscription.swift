import Crypto
import Foundation

/// A browser's push subscription as `PushSubscription.toJSON()` gives it: the push service's
/// endpoint, and the keys its messages are encrypted for. Everything in it came from a browser,
/// so it is checked here before it is stored or used.
public struct PushSubscription: Sendable, Equatable {
    /// An https URL on the push service (or a UnifiedPush distributor).
    public let endpoint: URL
    /// The browser's P-256 point, uncompressed (65 bytes).
    public let p256dh: Data
    /// The browser's auth secret (16 bytes).
    public let auth: Data

    public enum Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        case endpoint(String)
        case keys(String)

        public var description: String {
            switch self {
            case .endpoint(let why): "endpoint: \(why)"
            case .keys(let why): "keys: \(why)"
            }
        }
    }

    /// The longest endpoint kept; the push services' are under 500 characters.
    public static let maxEndpoint = 1024

    /// `allowHTTP`: plain http, for the tests' loopback push endpoint only.
    public init(endpoint text: String, p256dh: String, auth: String, allowHTTP: Bool = false) throws(Invalid) {
        guard text.utf8.count <= Self.maxEndpoint else { throw .endpoint("at most \(Self.maxEndpoint) bytes") }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty
        else { throw .endpoint("not a URL") }
        guard scheme == "https" || (allowHTTP && scheme == "http") else {
            throw .endpoint("a push service is reached over https")
        }
        guard url.user == nil, url.password == nil, url.fragment == nil else {
            throw .endpoint("no credentials or fragment")
        }
        guard let point = Base64URL.decode(p256dh), point.count == 65,
            (try? P256.KeyAgreement.PublicKey(x963Representation: point)) != nil
        else { throw .keys("p256dh must be an uncompressed P-256 point on the curve (65 bytes, base64url)") }
        guard let secret = Base64URL.decode(auth), secret.count == 16 else {
            throw .keys("auth must be 16 bytes, base64url")
        }
        endpoint = url
        self.p256dh = point
        self.auth = secret
    }

    /// The endpoint's origin, the VAPID token's audience (RFC 8292 section 2).
    public var origin: String {
        var origin = "\(endpoint.scheme!.lowercased())://\(endpoint.host!.lowercased())"
        if let port = endpoint.port { origin += ":\(port)" }
        return origin
    }
}

/// Base64 with the URL-safe alphabet and no padding (RFC 4648 section 5), as Web Push and JWT use it.
public enum Base64URL {
    public static func encode(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Accepts padded or unpadded text in either alphabet, as browsers differ.
    public static func decode(_ text: String) -> Data? {
        guard text.utf8.count <= 4096 else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard = standard.replacingOccurrences(of: "=", with: "")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        return Data(base64Encoded: standard)
    }
}

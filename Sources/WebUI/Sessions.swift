import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import SyncModule
import SyncProtocol

/// Owner login: bcrypt password hashes, random session tokens in a `Secure; HttpOnly;
/// SameSite=Strict` cookie (the store keeps only their hash), a CSRF token per session that every
/// form and script request must carry, and a limit on failed logins per address.
public struct Sessions: Sendable {
    static let cookie = "porchlight_session"
    static let loginCookie = "porchlight_login"
    public static let lifetime: Int64 = 14 * 86_400_000
    let store: any OwnerStore
    /// More than five failed logins in five minutes from one address are refused for a while.
    let throttle = FailureLimiter(limit: 5, window: .seconds(300))

    public init(store: any OwnerStore) {
        self.store = store
    }

    /// bcrypt, cost 12: about a quarter of a second on a Pi 4, which is fine for a login and
    /// slow for a guesser.
    public static func hashPassword(_ password: String) -> String { Bcrypt.hash(password, cost: 12) }

    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64URL
    }

    /// The session a request carries, if it is valid.
    func session(_ request: Request, now: Int64) -> OwnerSession? {
        guard let token = request.cookies[Self.cookie]?.value else { return nil }
        return try? store.session(tokenHash: sha256Hex(Data(token.utf8)), now: now)
    }

    enum LoginOutcome {
        case success(token: String, OwnerSession)
        case refused
        case throttled(seconds: Int)
    }

    func login(name: String, password: String, peer: String, now: Int64) -> LoginOutcome {
        if let wait = throttle.wait(for: peer, now: now) { return .throttled(seconds: wait) }
        guard let hash = try? store.passwordHash(of: name), Bcrypt.verify(password, hash: hash) else {
            throttle.fail(peer, now: now)
            return .refused
        }
        let token = Self.random()
        let session = OwnerSession(owner: name, csrf: Self.random(), expiresAt: now + Self.lifetime)
        do {
            try store.createSession(tokenHash: sha256Hex(Data(token.utf8)), session)
        } catch {
            return .refused
        }
        return .success(token: token, session)
    }

    func logout(_ request: Request) {
        guard let token = request.cookies[Self.cookie]?.value else { return }
        try? store.deleteSession(tokenHash: sha256Hex(Data(token.utf8)))
    }

    /// An owner-only cookie: sent over HTTPS only, hidden from scripts, never sent cross-site.
    static func ownerCookie(_ name: String, _ value: String, maxAge: Int) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/", secure: true, httpOnly: true, sameSite: .strict)
    }
}

extension Data {
    var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

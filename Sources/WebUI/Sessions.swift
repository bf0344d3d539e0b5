import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdBcrypt
import SyncModule
import SyncStorage
import SyncProtocol
import Synchronization

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
    let checker: PasswordChecker

    public init(store: any OwnerStore, checker: PasswordChecker = PasswordChecker()) {
        self.store = store
        self.checker = checker
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
        /// Too many checks are waiting for the password checker.
        case busy
    }

    /// Checks a login. The address's try is taken before the password is checked (see
    /// ``FailureLimiter``); an unknown name is checked against a stand-in hash, so the answer takes
    /// as long as for a known one.
    func login(name: String, password: String, peer: String, now: Int64) async -> LoginOutcome {
        if let wait = throttle.take(peer, now: now) { return .throttled(seconds: wait) }
        let hash: String?
        do {
            hash = try store.passwordHash(of: name)
        } catch {
            return .refused
        }
        switch await checker.verify(password, hash: hash) {
        case .busy:
            throttle.giveBack(peer, taken: now)
            return .busy
        case .wrong: return .refused
        case .right: break
        }
        throttle.giveBack(peer, taken: now)
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

/// Runs bcrypt checks one at a time on a thread of their own. A check is a quarter of a second of
/// CPU on a Pi 4: on Swift's cooperative pool, a burst of logins from many addresses would hold up
/// event ingest and the doorbells' control channels. At most `maximumWaiting` checks wait; more are
/// answered as busy at once rather than queued without bound.
public final class PasswordChecker: Sendable {
    public enum Verdict: Sendable {
        case right, wrong, busy
    }

    /// What an unknown name is checked against: a hash of random bytes, made once.
    static let standIn = Sessions.hashPassword(Sessions.random())

    let maximumWaiting: Int
    private let queue = DispatchQueue(label: "porchlight-bcrypt")
    private let waiting = Mutex(0)

    public init(maximumWaiting: Int = 8) {
        self.maximumWaiting = maximumWaiting
        // The stand-in is made here, off the pool, before the first unknown name needs it.
        queue.async { _ = Self.standIn }
    }

    /// Checks `password` against `hash`; with no hash (an unknown name) against the stand-in, and
    /// wrong whatever it says.
    public func verify(_ password: String, hash: String?) async -> Verdict {
        let admitted = waiting.withLock { count -> Bool in
            guard count < maximumWaiting else { return false }
            count += 1
            return true
        }
        guard admitted else { return .busy }
        return await withCheckedContinuation { continuation in
            queue.async { [self] in
                let right = Bcrypt.verify(password, hash: hash ?? Self.standIn) && hash != nil
                waiting.withLock { $0 -= 1 }
                continuation.resume(returning: right ? .right : .wrong)
            }
        }
    }
}

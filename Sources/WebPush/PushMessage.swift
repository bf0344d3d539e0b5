import Crypto
import Foundation

/// One notification for one browser, with the delivery hints RFC 8030 gives the push service.
public struct PushMessage: Sendable, Equatable {
    /// RFC 8030 section 5.3: a phone on battery wakes for `high` at once; `normal` may wait.
    public enum Urgency: String, Sendable {
        case veryLow = "very-low"
        case low, normal, high
    }

    /// The plaintext, encrypted per browser before it leaves (at most `PushEncryption.maxPlaintext`).
    public var payload: Data
    /// Seconds the push service keeps it for a browser that is offline (RFC 8030 section 5.2).
    public var ttl: Int
    public var urgency: Urgency
    /// A newer message with the same topic replaces an undelivered older one (RFC 8030 section 5.4).
    public var topic: String?

    public init(payload: Data, ttl: Int, urgency: Urgency, topic: String? = nil) {
        self.payload = payload
        self.ttl = ttl
        self.urgency = urgency
        self.topic = topic.map(Self.topic)
    }

    /// A topic is at most 32 characters of the URL-safe base64 alphabet; anything else becomes
    /// the first 24 bytes of its SHA-256, which are 32 such characters.
    static func topic(_ text: String) -> String {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        if (1...32).contains(text.count), text.allSatisfy(allowed.contains) { return text }
        return Base64URL.encode(Data(SHA256.hash(data: Data(text.utf8))).prefix(24))
    }
}

/// What a push service answered, as the sender acts on it (RFC 8030 section 6, RFC 8292 section 5).
public enum PushOutcome: Sendable, Equatable {
    /// 201 (or another 2xx): the service took it.
    case delivered(status: Int)
    /// 404 or 410: the subscription has ended; it is removed.
    case gone(status: Int)
    /// 429, 5xx, or no answer: tried again later, after `after` when the service said so.
    case retry(status: Int?, after: Duration?, reason: String)
    /// Any other answer (400, 401, 403, 413): retrying would not help.
    case refused(status: Int, reason: String)

    /// Classifies a status, with the `Retry-After` header's value if there was one.
    public static func from(status: Int, retryAfter: String?, body: String, now: Date = Date()) -> PushOutcome {
        let reason = body.isEmpty ? "HTTP \(status)" : "HTTP \(status): \(body.prefix(200))"
        switch status {
        case 200..<300: return .delivered(status: status)
        case 404, 410: return .gone(status: status)
        case 429, 500..<600:
            return .retry(status: status, after: retryAfter.flatMap { parseRetryAfter($0, now: now) }, reason: reason)
        default: return .refused(status: status, reason: reason)
        }
    }

    /// `Retry-After` is seconds or an HTTP date (RFC 9110 section 10.2.3); nil when it is neither.
    static func parseRetryAfter(_ text: String, now: Date) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed), seconds >= 0 { return .seconds(min(seconds, 86_400)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return .milliseconds(Int64(max(0, min(86_400, date.timeIntervalSince(now))) * 1000))
    }
}

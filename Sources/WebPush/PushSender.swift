import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Sends encrypted messages to push services over HTTPS (RFC 8030 section 5), signed with the
/// VAPID key. One attempt per call; `PushDelivery` decides about the next.
public struct PushSender: Sendable {
    let client: HTTPClient
    public let key: VAPIDKey
    /// The operator contact in each token (`mailto:` or `https:`), RFC 8292 section 2.1.
    let subject: String
    /// How long one attempt may take, connection included.
    let timeout: TimeAmount

    public init(client: HTTPClient, key: VAPIDKey, subject: String, timeout: TimeAmount = .seconds(15)) {
        self.client = client
        self.key = key
        self.subject = subject
        self.timeout = timeout
    }

    /// What to do when the sandbox keeps the sync module on the home network (docs/notifications.md).
    public static let egressHint =
        "The sync module's unit lets it reach the home network only; to let it reach push services, run "
        + "`sudo systemctl edit porchlight-sync`, add `[Service]` and `IPAddressAllow=any`, and restart it"

    public func send(_ message: PushMessage, to subscription: PushSubscription) async -> PushOutcome {
        let body: Data
        do {
            body = try PushEncryption.encrypt(message.payload, for: subscription)
        } catch {
            return .refused(status: 0, reason: error.description)
        }
        var request = HTTPClientRequest(url: subscription.endpoint.absoluteString)
        request.method = .POST
        request.headers.add(
            name: "Authorization",
            value: key.authorization(
                audience: subscription.origin, subject: subject, now: Int64(Date().timeIntervalSince1970)))
        request.headers.add(name: "Content-Encoding", value: "aes128gcm")
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        request.headers.add(name: "TTL", value: String(message.ttl))
        request.headers.add(name: "Urgency", value: message.urgency.rawValue)
        if let topic = message.topic { request.headers.add(name: "Topic", value: topic) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: timeout)
            // What a push service says about a refusal is short; more is not read.
            let text = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
            return .from(
                status: Int(response.status.code), retryAfter: response.headers.first(name: "Retry-After"),
                body: text.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            var reason = "no answer from \(subscription.origin): \(error)"
            // systemd's IPAddressDeny refuses the connection with EPERM.
            if "\(error)".contains("Operation not permitted") || "\(error)".contains("errno: 1)") {
                reason += ". " + Self.egressHint
            }
            return .retry(status: nil, after: nil, reason: reason)
        }
    }
}

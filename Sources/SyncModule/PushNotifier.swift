import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import SyncProtocol
import SyncStorage
import Synchronization
import WebPush

/// Tells the owner's browsers about rings and motion through their push services, with the page
/// closed (docs/notifications.md). A ring is pushed the moment it is stored; the message holds
/// only the event's id, kind, doorbell and time, encrypted for each browser (RFC 8291). Pushing
/// never holds up an event: deliveries run beside the feed, a bounded number at a time.
public final class PushNotifier: Service, Sendable {
    /// What one event becomes on the wire, for the browser's service worker to read.
    struct Payload: Codable, Equatable {
        var v = 1
        var id: String
        var kind: String
        var doorbell: String
        var doorbellName: String
        var at: Int64
    }

    /// How long a push service keeps each kind for an offline phone, and how old an event may be
    /// and still be pushed (an outbox that drains after an outage does not ring the phone for a
    /// visitor long gone).
    static let ringTTL = 600
    static let motionTTL = 300
    /// Deliveries in flight at once; more are dropped, and the browser's error says so.
    static let maxInFlight = 64

    let store: any HubStore
    let feed: EventFeed
    let sender: PushSender
    let client: HTTPClient
    let retry: PushRetryPolicy
    /// Plain-http endpoints (the tests' loopback push service only).
    public let allowHTTP: Bool
    let logger: Logger
    private let inFlight = Atomic<Int>(0)

    public init(
        store: any HubStore, feed: EventFeed, key: VAPIDKey, subject: String,
        retry: PushRetryPolicy = .init(), allowHTTP: Bool = false, logger: Logger
    ) {
        self.store = store
        self.feed = feed
        client = HTTPClient(eventLoopGroupProvider: .singleton)
        sender = PushSender(client: client, key: key, subject: subject)
        self.retry = retry
        self.allowHTTP = allowHTTP
        var logger = logger
        logger[metadataKey: "part"] = "push"
        self.logger = logger
    }

    /// The VAPID public key (base64url), the browsers' `applicationServerKey`.
    public var publicKey: String { sender.key.publicKey }

    public func run() async throws {
        let events = feed.subscribe()
        await withDiscardingTaskGroup { group in
            // The feed's loop ends at shutdown; deliveries in flight finish or time out.
            for await item in events.cancelOnGracefulShutdown() {
                guard case .event(let stored) = item, let message = message(for: stored) else { continue }
                for (subscription, record) in recipients(of: stored) {
                    guard inFlight.add(1, ordering: .relaxed).newValue <= Self.maxInFlight else {
                        inFlight.subtract(1, ordering: .relaxed)
                        failed(record, "dropped: \(Self.maxInFlight) deliveries were still in flight")
                        continue
                    }
                    group.addTask {
                        defer { self.inFlight.subtract(1, ordering: .relaxed) }
                        await self.deliver(message.message, to: subscription, record)
                    }
                }
            }
        }
        try await client.shutdown()
    }

    /// The message for a stored event, or nil for kinds that do not notify and for events too old.
    func message(for stored: StoredEvent, now: Int64 = unixMilliseconds()) -> (message: PushMessage, kind: String)? {
        let event = stored.event
        let kind: String
        let ttl: Int
        let urgency: PushMessage.Urgency
        var topic: String?
        switch event.kind {
        case .ring: (kind, ttl, urgency) = ("ring", Self.ringTTL, .high)
        case .motionStarted:
            (kind, ttl, urgency) = ("motion", Self.motionTTL, .normal)
            // One per doorbell: a burst of motion while the phone is away reaches it as one.
            topic = "motion-\(stored.deviceID)"
        default: return nil
        }
        guard now - event.wallMilliseconds < Int64(ttl) * 1000 else { return nil }
        let name = (try? store.device(stored.deviceID))?.name ?? stored.deviceID
        let payload = Payload(
            id: event.eventID, kind: kind, doorbell: stored.deviceID, doorbellName: name, at: event.wallMilliseconds)
        // Encodable by construction.
        let data = try! JSONEncoder().encode(payload)
        return (PushMessage(payload: data, ttl: ttl, urgency: urgency, topic: topic), kind)
    }

    /// The browsers that asked for this kind; for a ring whose chime was silenced, only those that
    /// asked to hear rings in quiet hours too.
    func recipients(of stored: StoredEvent) -> [(PushSubscription, PushSubscriptionRecord)] {
        guard let records = try? store.pushSubscriptions() else {
            logger.error("Cannot read the push subscriptions; nothing is pushed for this event.")
            return []
        }
        let silenced = stored.event.chimeSilenced == true
        return records.filter { record in
            switch stored.event.kind {
            case .ring: record.rings && (!silenced || record.duringQuiet)
            case .motionStarted: record.motion
            default: false
            }
        }.compactMap { record in
            guard let subscription = subscription(record) else { return nil }
            return (subscription, record)
        }
    }

    func subscription(_ record: PushSubscriptionRecord) -> PushSubscription? {
        do {
            return try PushSubscription(
                endpoint: record.endpoint, p256dh: record.p256dh, auth: record.auth, allowHTTP: allowHTTP)
        } catch {
            failed(record, "the stored subscription is not valid (\(error)); subscribe again")
            return nil
        }
    }

    /// Delivers with retries, and records what happened on the subscription.
    func deliver(_ message: PushMessage, to subscription: PushSubscription, _ record: PushSubscriptionRecord) async {
        let (outcome, attempts) = await retry.run(budget: .seconds(message.ttl)) {
            await sender.send(message, to: subscription)
        }
        settle(outcome, attempts: attempts, record)
    }

    /// A test notification to one browser, tried once; what the push service answered.
    public func sendTest(to id: String) async -> PushOutcome? {
        guard let record = try? store.pushSubscriptions().first(where: { $0.id == id }),
            let subscription = subscription(record)
        else { return nil }
        let payload = Payload(
            id: "test", kind: "test", doorbell: "", doorbellName: "Porchlight", at: unixMilliseconds())
        let message = PushMessage(payload: try! JSONEncoder().encode(payload), ttl: 60, urgency: .high)
        let outcome = await sender.send(message, to: subscription)
        settle(outcome, attempts: 1, record)
        return outcome
    }

    func settle(_ outcome: PushOutcome, attempts: Int, _ record: PushSubscriptionRecord) {
        let now = unixMilliseconds()
        switch outcome {
        case .delivered:
            try? store.recordPushDelivery(record.id, at: now)
        case .gone(let status):
            logger.notice(
                "A browser's push subscription has ended; it is removed.",
                metadata: ["subscription": "\(record.label)", "status": "\(status)"])
            try? store.removePushSubscription(record.id)
        case .retry(_, _, let reason):
            failed(record, "\(reason) (after \(attempts) attempts)")
        case .refused(_, let reason):
            failed(record, reason)
        }
    }

    func failed(_ record: PushSubscriptionRecord, _ reason: String) {
        logger.warning(
            "Cannot notify a browser.", metadata: ["subscription": "\(record.label)", "error": "\(reason)"])
        try? store.recordPushFailure(record.id, error: reason, at: unixMilliseconds())
    }
}

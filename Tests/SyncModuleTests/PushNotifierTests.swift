import Crypto
import DoorbellTestKit
import Foundation
import Logging
import SyncProtocol
@testable import SyncStorage
import Testing
import WebPush

@testable import SyncModule

/// The notifier between the feed and a push service it did not write (PyPI's http-ece decrypts).
@Suite("Push notifications from stored events", .timeLimit(.minutes(5)))
struct PushNotifierTests {
    struct Setup {
        let directory: TemporaryDirectory
        let store: SQLiteSyncStore
        let feed = EventFeed()
        let endpoint: PushEndpoint
        let notifier: PushNotifier
        let device: DeviceRecord
        /// The browser's key (raw scalar; swift-crypto's key types are not Sendable on Linux) and point.
        let key: Data
        let point: Data
        let auth = PushEncryption.randomBytes(16)

        init() throws {
            directory = try TemporaryDirectory()
            let browser = P256.KeyAgreement.PrivateKey()
            key = browser.rawRepresentation
            point = browser.publicKey.x963Representation
            store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
            try store.addPairingCode("PUSH-TEST", expiresAt: unixMilliseconds() + 600_000)
            device = try store.pair(
                code: "PUSH-TEST", publicKey: Data(repeating: 1, count: 65), name: "Front door", now: 1)
            endpoint = try PushEndpoint(browserKey: key, auth: auth)
            notifier = PushNotifier(
                store: store, feed: feed, key: VAPIDKey(), subject: "mailto:owner@example.org",
                retry: PushRetryPolicy(attempts: 2, firstDelay: .milliseconds(10)), allowHTTP: true,
                logger: Logger(label: "test"))
        }

        @discardableResult
        func subscribe(_ name: String, rings: Bool = true, motion: Bool = false, duringQuiet: Bool = false) throws
            -> PushSubscriptionRecord
        {
            try store.savePushSubscription(
                PushSubscriptionRecord(
                    id: "sub-\(name)", owner: "alice", label: name, endpoint: endpoint.url(name),
                    p256dh: Base64URL.encode(point), auth: Base64URL.encode(auth),
                    rings: rings, motion: motion, duringQuiet: duringQuiet, createdAt: 1))
        }

        func event(_ id: String, _ kind: EventKind, silenced: Bool = false, age: Int64 = 0) -> StoredEvent {
            StoredEvent(
                sequence: 1, deviceID: device.id,
                event: WireEvent(
                    key: "k-\(id)", eventID: id, kind: kind, wallMilliseconds: unixMilliseconds() - age,
                    chimeSilenced: kind == .ring ? silenced : nil),
                receivedAt: unixMilliseconds())
        }

        func payloads(_ name: String, count: Int) async throws -> [[String: Any]] {
            try await endpoint.requests(to: name, count: count).map { request in
                (try? JSONSerialization.jsonObject(with: Data((request["payload"] ?? "").utf8))) as? [String: Any]
                    ?? [:]
            }
        }
    }

    @Test(
        "rings reach the browsers that want them (Urgency high), silenced ones only those that asked; motion with a Topic; an event past its TTL is not pushed; 410 removes the browser"
    )
    func routing() async throws {
        let setup = try Setup()
        try setup.subscribe("rings")
        try setup.subscribe("all", motion: true, duringQuiet: true)
        try setup.subscribe("gone")
        let running = Task { [notifier = setup.notifier] in try await notifier.run() }
        defer { running.cancel() }
        #expect(await eventually { setup.feed.listenerCount == 1 })

        let stale = setup.event("old-ring", .ring, age: Int64(PushNotifier.ringTTL + 60) * 1000)
        #expect(setup.notifier.message(for: stale) == nil)
        setup.feed.publish([
            .event(setup.event("ring-1", .ring)), .event(stale),
            .event(setup.event("ring-quiet", .ring, silenced: true)),
            .event(setup.event("motion-1", .motionStarted)), .event(setup.event("motion-1", .motionEnded)),
        ])
        // The last one, so that anything pushed before it has been sent by the time it arrives.
        setup.feed.publish([.event(setup.event("ring-2", .ring))])

        let rings = try await setup.payloads("rings", count: 2)
        #expect(Set(rings.compactMap { $0["id"] as? String }) == ["ring-1", "ring-2"])
        let all = try await setup.payloads("all", count: 4)
        #expect(Set(all.compactMap { $0["id"] as? String }) == ["ring-1", "ring-quiet", "motion-1", "ring-2"])
        let ring = try #require(all.first { $0["id"] as? String == "ring-1" })
        #expect(ring["kind"] as? String == "ring")
        #expect(ring["doorbell"] as? String == setup.device.id)
        #expect(ring["doorbellName"] as? String == "Front door")
        #expect(Set(ring.keys) == ["v", "id", "kind", "doorbell", "doorbellName", "at"])

        let requests = try await setup.endpoint.requests(to: "all", count: 4)
        for request in requests {
            let kind = (try? JSONSerialization.jsonObject(with: Data((request["payload"] ?? "").utf8)))
                .flatMap { ($0 as? [String: Any])?["kind"] as? String }
            #expect(request.vapidOK && request.audienceOK)
            if kind == "ring" {
                #expect(request["urgency"] == "high" && request["topic"] == nil && request["ttl"] == "600")
            } else {
                #expect(request["urgency"] == "normal" && request["topic"] != nil && request["ttl"] == "300")
            }
        }
        #expect(
            await eventually { (try? setup.store.pushSubscriptions().map(\.label)).map(Set.init) == ["rings", "all"] })
        let kept = try setup.store.pushSubscriptions()
        #expect(kept.allSatisfy { $0.lastDeliveryAt != nil && $0.lastError == nil })
        #expect(setup.endpoint.requests.filter { $0["path"]?.hasSuffix("/rings") == true }.count == 2)
        await setup.endpoint.stop()
    }

    @Test("a push service that keeps failing leaves its error on the browser's row; a test notification reports it")
    func failureRecorded() async throws {
        let setup = try Setup()
        try setup.subscribe("fail")
        let running = Task { [notifier = setup.notifier] in try await notifier.run() }
        defer { running.cancel() }
        #expect(await eventually { setup.feed.listenerCount == 1 })
        setup.feed.publish([.event(setup.event("ring-1", .ring))])
        _ = try await setup.endpoint.requests(to: "fail", count: 2)
        #expect(
            await eventually {
                (try? setup.store.pushSubscriptions().first?.lastError)??.contains("HTTP 500") == true
            })
        #expect(try setup.store.pushSubscriptions().first?.lastDeliveryAt == nil)
        let outcome = await setup.notifier.sendTest(to: "sub-fail")
        guard case .retry(500, _, _) = outcome else {
            Issue.record("a test notification to a failing service: \(String(describing: outcome))")
            return
        }
        await setup.endpoint.stop()
    }
}

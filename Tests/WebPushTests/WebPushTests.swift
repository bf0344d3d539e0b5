import AsyncHTTPClient
import Crypto
import DoorbellTestKit
import Foundation
import Testing

@testable import WebPush

@Suite("Web Push: RFC 8291 encryption, VAPID, and a push service's answers")
struct WebPushTests {
    /// RFC 8291 section 5's worked example, byte for byte.
    @Test("the encryption reproduces RFC 8291's example")
    func rfcExample() throws {
        func bytes(_ text: String) -> Data { Base64URL.decode(text)! }
        let browser = try P256.KeyAgreement.PrivateKey(
            rawRepresentation: bytes("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
        let sender = try P256.KeyAgreement.PrivateKey(
            rawRepresentation: bytes("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
        let subscription = try PushSubscription(
            endpoint: "https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV",
            p256dh: Base64URL.encode(browser.publicKey.x963Representation), auth: "BTBZMqHH6r4Tts7J_aSIgg")
        let body = try PushEncryption.encrypt(
            Data("When I grow up, I want to be a watermelon".utf8), for: subscription, senderKey: sender,
            salt: bytes("DGv6ra1nlYgDCS1FRnbzlw"))
        #expect(
            Base64URL.encode(body)
                == "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6Tlz"
                + "AC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
    }

    @Test("a payload too large for one record is refused, not cut")
    func tooLarge() throws {
        let browser = P256.KeyAgreement.PrivateKey()
        let subscription = try PushSubscription(
            endpoint: "https://push.example.net/x", p256dh: Base64URL.encode(browser.publicKey.x963Representation),
            auth: Base64URL.encode(Data(repeating: 7, count: 16)))
        #expect(throws: PushEncryption.Failure.tooLarge(PushEncryption.maxPlaintext + 1)) {
            try PushEncryption.encrypt(Data(count: PushEncryption.maxPlaintext + 1), for: subscription)
        }
        #expect(try PushEncryption.encrypt(Data(count: PushEncryption.maxPlaintext), for: subscription).count == 4096)
    }

    @Test("a subscription from a browser is checked: https, key sizes, no credentials, bounded")
    func subscriptionChecks() {
        let point = Base64URL.encode(P256.KeyAgreement.PrivateKey().publicKey.x963Representation)
        let auth = Base64URL.encode(Data(repeating: 1, count: 16))
        let bad: [(String, String, String)] = [
            ("http://push.example.net/x", point, auth), ("file:///etc/passwd", point, auth),
            ("https://user:pw@push.example.net/x", point, auth), ("not a url", point, auth),
            ("https://push.example.net/" + String(repeating: "a", count: 1100), point, auth),
            ("https://push.example.net/x", "AAAA", auth), ("https://push.example.net/x", point, "AAAA"),
            // 65 bytes that begin as a point should, but off the curve.
            ("https://push.example.net/x", Base64URL.encode([0x04] + Data(repeating: 1, count: 64)), auth),
            ("https://push.example.net/x", Base64URL.encode(Data(repeating: 4, count: 65)).dropFirst(1) + "", auth),
        ]
        for (endpoint, p256dh, secret) in bad {
            #expect(throws: PushSubscription.Invalid.self, "\(endpoint.prefix(40)) \(p256dh.prefix(8))") {
                try PushSubscription(endpoint: endpoint, p256dh: p256dh, auth: secret)
            }
        }
        #expect(
            (try? PushSubscription(endpoint: "https://Push.Example.net:8443/a", p256dh: point, auth: auth))?.origin
                == "https://push.example.net:8443")
    }

    @Test("the VAPID key is made once, mode 0600, kept, and a damaged file is an error, not a new key")
    func vapidKeyFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/vapid.key"
        let made = try VAPIDKey.loadOrCreate(path: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try VAPIDKey.loadOrCreate(path: path).publicKey == made.publicKey)
        try "not a key".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: VAPIDKeyError.unreadable(path)) { try VAPIDKey.loadOrCreate(path: path) }
    }

    @Test("Retry-After in seconds or as an HTTP date; statuses sorted as RFC 8030 has them")
    func outcomes() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(PushOutcome.parseRetryAfter("30", now: now) == .seconds(30))
        #expect(PushOutcome.parseRetryAfter("Tue, 14 Nov 2023 22:13:20 GMT", now: now) == .seconds(0))
        #expect(PushOutcome.parseRetryAfter("Tue, 14 Nov 2023 22:14:20 GMT", now: now) == .seconds(60))
        #expect(PushOutcome.parseRetryAfter("soon", now: now) == nil)
        #expect(PushOutcome.from(status: 201, retryAfter: nil, body: "") == .delivered(status: 201))
        #expect(PushOutcome.from(status: 410, retryAfter: nil, body: "") == .gone(status: 410))
        #expect(PushOutcome.from(status: 404, retryAfter: nil, body: "") == .gone(status: 404))
        #expect(
            PushOutcome.from(status: 429, retryAfter: "2", body: "")
                == .retry(status: 429, after: .seconds(2), reason: "HTTP 429"))
        #expect(
            PushOutcome.from(status: 413, retryAfter: nil, body: "big")
                == .refused(status: 413, reason: "HTTP 413: big"))
    }

    @Test("a topic outside RFC 8030's alphabet or over 32 characters becomes one inside it")
    func topics() {
        #expect(PushMessage.topic("motion-abc") == "motion-abc")
        let hashed = PushMessage.topic("motion-" + String(repeating: "x", count: 40))
        #expect(
            hashed.count <= 32 && !hashed.isEmpty
                && hashed.allSatisfy { $0.isLetter || $0.isNumber || "-_".contains($0) })
        #expect(PushMessage.topic("a b") != "a b")
    }
}

/// The sender against a push service it did not write: the endpoint decrypts with http-ece and
/// checks the token with the cryptography package.
@Suite("Web Push against an independent endpoint")
struct WebPushEndpointTests {
    struct Browser {
        let key = P256.KeyAgreement.PrivateKey()
        let auth = PushEncryption.randomBytes(16)

        func subscription(_ endpoint: String) throws -> PushSubscription {
            try PushSubscription(
                endpoint: endpoint, p256dh: Base64URL.encode(key.publicKey.x963Representation),
                auth: Base64URL.encode(auth), allowHTTP: true)
        }
    }

    func withEndpoint(_ body: (PushEndpoint, Browser, PushSender, VAPIDKey) async throws -> Void) async throws {
        let browser = Browser()
        let endpoint = try PushEndpoint(browserKey: browser.key.rawRepresentation, auth: browser.auth)
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let key = VAPIDKey()
        let sender = PushSender(client: client, key: key, subject: "mailto:owner@example.org")
        do {
            try await body(endpoint, browser, sender, key)
        } catch {
            await endpoint.stop()
            try await client.shutdown()
            throw error
        }
        await endpoint.stop()
        try await client.shutdown()
    }

    @Test("the endpoint decrypts the payload; the token's audience, expiry and signature hold; TTL, Urgency, Topic")
    func delivered() async throws {
        try await withEndpoint { endpoint, browser, sender, key in
            let payload = #"{"id":"e1","kind":"ring"}"#
            let outcome = await sender.send(
                PushMessage(payload: Data(payload.utf8), ttl: 600, urgency: .high, topic: "ring-front"),
                to: try browser.subscription(endpoint.url("ok")))
            #expect(outcome == .delivered(status: 201))
            let request = try #require(try await endpoint.requests(to: "ok").first)
            #expect(request["payload"] == payload, "\(request.fields)")
            #expect(request["encoding"] == "aes128gcm")
            #expect(request.vapidOK && request.audienceOK, "\(request.fields)")
            #expect(request["key"] == key.publicKey)
            #expect(request["sub"] == "mailto:owner@example.org")
            let expiresIn = try #require(request.number["exp_in"])
            #expect(expiresIn > 3600 && expiresIn <= 86_400)
            #expect(request["ttl"] == "600")
            #expect(request["urgency"] == "high")
            #expect(request["topic"] == "ring-front")
        }
    }

    @Test("410 and 404 say the subscription has ended; 500 is retried until the budget ends")
    func answers() async throws {
        try await withEndpoint { endpoint, browser, sender, _ in
            let message = PushMessage(payload: Data("x".utf8), ttl: 60, urgency: .normal)
            #expect(
                await sender.send(message, to: try browser.subscription(endpoint.url("gone"))) == .gone(status: 410))
            #expect(
                await sender.send(message, to: try browser.subscription(endpoint.url("missing"))) == .gone(status: 404))
            let policy = PushRetryPolicy(attempts: 3, firstDelay: .milliseconds(10), maxDelay: .milliseconds(20))
            let failing = try browser.subscription(endpoint.url("fail"))
            let (outcome, attempts) = await policy.run(budget: .seconds(60)) {
                await sender.send(message, to: failing)
            }
            #expect(attempts == 3)
            guard case .retry(500, _, _) = outcome else {
                Issue.record("expected a 500 to be retried, got \(outcome)")
                return
            }
            #expect(try await endpoint.requests(to: "fail", count: 3).count == 3)
        }
    }

    @Test("429 with Retry-After: the next attempt waits at least that long, then is taken")
    func retryAfter() async throws {
        try await withEndpoint { endpoint, browser, sender, _ in
            let message = PushMessage(payload: Data("x".utf8), ttl: 60, urgency: .normal)
            let busy = try browser.subscription(endpoint.url("busy"))
            // Without Retry-After the policy would try again after 1 ms.
            let policy = PushRetryPolicy(attempts: 5, firstDelay: .milliseconds(1), maxDelay: .milliseconds(1))
            let (outcome, attempts) = await policy.run(budget: .seconds(60)) { await sender.send(message, to: busy) }
            #expect(outcome == .delivered(status: 201))
            #expect(attempts == 2)
            let requests = try await endpoint.requests(to: "busy", count: 2)
            let gap = try #require(requests[1].number["time"]) - (try #require(requests[0].number["time"]))
            #expect(gap >= 1.0, "the second attempt came \(gap) s after the 429")
        }
    }
}

import Foundation
import SyncProtocol
import Testing

@Suite("Request signing", .timeLimit(.minutes(10)))
struct RequestSigningTests {
    let identity = try! DeviceIdentity()
    let now: Int64 = 1_764_000_000_000
    let body = Data(#"{"kind":"ring"}"#.utf8)

    func verifier(revoked: Bool = false) -> RequestVerifier {
        let key = identity.publicKey
        let id = identity.deviceID
        return RequestVerifier(nonces: MemoryNonceStore(windowMilliseconds: RequestVerifier.window)) { device in
            device == id ? (revoked ? .revoked : .active(publicKey: key)) : nil
        }
    }

    @Test("a signed request verifies and names its device")
    func valid() throws {
        let headers = try identity.sign(method: "POST", path: "/v1/events", body: body, now: now)
        #expect(
            try verifier().verify(method: "POST", path: "/v1/events", headers: headers, body: body, now: now + 500)
                == identity.deviceID)
    }

    @Test("a changed method, path or body, or another key, does not verify")
    func tampering() throws {
        let headers = try identity.sign(method: "POST", path: "/v1/events", body: body, now: now)
        let check = verifier()
        #expect(throws: AuthenticationFailure.badSignature) {
            _ = try check.verify(method: "PUT", path: "/v1/events", headers: headers, body: body, now: now)
        }
        #expect(throws: AuthenticationFailure.badSignature) {
            _ = try check.verify(method: "POST", path: "/v1/devices", headers: headers, body: body, now: now)
        }
        #expect(throws: AuthenticationFailure.bodyHashMismatch) {
            _ = try check.verify(method: "POST", path: "/v1/events", headers: headers, body: Data("{}".utf8), now: now)
        }
        var forged = try DeviceIdentity().sign(method: "POST", path: "/v1/events", body: body, now: now)
        forged[SignedHeader.device] = identity.deviceID
        #expect(throws: AuthenticationFailure.badSignature) {
            _ = try check.verify(method: "POST", path: "/v1/events", headers: forged, body: body, now: now)
        }
    }

    @Test("a replayed request, a stale one, an unknown or revoked device and missing headers are refused")
    func refusals() throws {
        let headers = try identity.sign(method: "POST", path: "/v1/events", body: body, now: now)
        let check = verifier()
        _ = try check.verify(method: "POST", path: "/v1/events", headers: headers, body: body, now: now)
        #expect(throws: AuthenticationFailure.replayedNonce) {
            _ = try check.verify(method: "POST", path: "/v1/events", headers: headers, body: body, now: now + 1000)
        }
        let old = try identity.sign(method: "POST", path: "/v1/events", body: body, now: now - 200_000)
        #expect(throws: AuthenticationFailure.clockSkew(milliseconds: 200_000)) {
            _ = try check.verify(method: "POST", path: "/v1/events", headers: old, body: body, now: now)
        }
        let stranger = try DeviceIdentity().sign(method: "POST", path: "/v1/events", body: body, now: now)
        #expect(throws: AuthenticationFailure.unknownDevice) {
            _ = try check.verify(method: "POST", path: "/v1/events", headers: stranger, body: body, now: now)
        }
        let fresh = try identity.sign(method: "POST", path: "/v1/events", body: body, now: now)
        let revoked = #expect(throws: AuthenticationFailure.revokedDevice) {
            _ = try verifier(revoked: true).verify(
                method: "POST", path: "/v1/events", headers: fresh, body: body, now: now)
        }
        #expect(revoked?.status == 403)
        var partial = fresh
        partial[SignedHeader.signature] = nil
        #expect(throws: AuthenticationFailure.missingHeader(SignedHeader.signature)) {
            _ = try check.verify(method: "POST", path: "/v1/events", headers: partial, body: body, now: now)
        }
    }

    @Test("a request that fails verification does not use up its nonce")
    func failedRequestKeepsNonce() throws {
        let headers = try identity.sign(method: "POST", path: "/v1/events", body: body, now: now)
        let check = verifier()
        #expect(throws: AuthenticationFailure.bodyHashMismatch) {
            _ = try check.verify(method: "POST", path: "/v1/events", headers: headers, body: Data(), now: now)
        }
        #expect(
            try check.verify(method: "POST", path: "/v1/events", headers: headers, body: body, now: now)
                == identity.deviceID)
    }
}

@Suite("Request signing: hostile headers", .timeLimit(.minutes(10)))
struct HostileHeaderTests {
    let identity = try! DeviceIdentity()
    let now: Int64 = 1_764_000_000_000
    let body = Data("{}".utf8)

    func verifier() -> RequestVerifier {
        let key = identity.publicKey
        let id = identity.deviceID
        return RequestVerifier(nonces: MemoryNonceStore(windowMilliseconds: RequestVerifier.window)) { device in
            device == id ? .active(publicKey: key) : nil
        }
    }

    func refusal(_ name: String, _ value: String, now: Int64? = nil) throws -> AuthenticationFailure? {
        var headers = try identity.sign(method: "POST", path: "/v1/events", body: body, now: now ?? self.now)
        headers[name] = value
        do {
            _ = try verifier().verify(
                method: "POST", path: "/v1/events", headers: headers, body: body, now: now ?? self.now)
            return nil
        } catch {
            return error
        }
    }

    @Test(
        "timestamps outside Unix milliseconds are refused naming the header, never trapping",
        arguments: [
            "-9223372036854775808", "9223372036854775807", "-1", "+1764000000000", " 1764000000000",
            "1764000000000 ", "0x1A", "1e12", "", "253402300800000", "99999999999999999999999",
        ])
    func hostileTimestamps(_ value: String) throws {
        let failure = try refusal(SignedHeader.timestamp, value)
        #expect(
            failure == .malformedHeader(SignedHeader.timestamp, expected: "Unix time in milliseconds (digits only)"))
        #expect(failure?.status == 401)
    }

    @Test("a timestamp at either end of the range is only clock skew, against any clock")
    func skewAtTheEnds() throws {
        #expect(try refusal(SignedHeader.timestamp, "0") == .clockSkew(milliseconds: now))
        let last = RequestVerifier.timestamps.upperBound
        #expect(try refusal(SignedHeader.timestamp, "\(last)") == .clockSkew(milliseconds: now - last))
        // A host clock far outside the range (broken RTC) is clamped, not subtracted raw.
        for clock in [Int64.min, Int64.max] {
            guard case .clockSkew = try refusal(SignedHeader.timestamp, "\(now)", now: clock) else {
                Issue.record("clock \(clock) did not give clock skew")
                continue
            }
        }
    }

    @Test(
        "device, nonce, body hash and signature headers of the wrong form are refused before any lookup",
        arguments: [
            (SignedHeader.device, "../../etc/passwd"), (SignedHeader.device, String(repeating: "A", count: 32)),
            (SignedHeader.nonce, "AA"), (SignedHeader.nonce, String(repeating: "A", count: 65)),
            (SignedHeader.nonce, "not base64 at all!!!"), (SignedHeader.contentSHA256, "00"),
            (SignedHeader.contentSHA256, String(repeating: "G", count: 64)), (SignedHeader.signature, "AA=="),
            (SignedHeader.signature, String(repeating: "A", count: 4000)),
        ])
    func malformedHeaders(_ name: String, _ value: String) throws {
        guard case .malformedHeader(let refused, _) = try refusal(name, value) else {
            Issue.record("\(name): \(value.prefix(20)) was not refused as malformed")
            return
        }
        #expect(refused == name)
    }

    @Test("the head is checked without the body: a stranger is refused before the body is read")
    func headFirst() throws {
        let stranger = try DeviceIdentity().sign(method: "POST", path: "/v1/events", body: body, now: now)
        #expect(throws: AuthenticationFailure.unknownDevice) {
            _ = try verifier().checkHead(headers: stranger, now: now)
        }
        let mine = try identity.sign(method: "POST", path: "/v1/events", body: body, now: now)
        let head = try verifier().checkHead(headers: mine, now: now)
        #expect(head.device == identity.deviceID)
        #expect(throws: AuthenticationFailure.bodyHashMismatch) {
            _ = try verifier().verify(head, method: "POST", path: "/v1/events", body: Data("[]".utf8), now: now)
        }
    }
}

@Suite("Wire events: bounds on what a doorbell sends", .timeLimit(.minutes(10)))
struct WireEventBoundsTests {
    static let good = WireEvent(
        key: "k1", eventID: "e1", kind: .motionStarted, wallMilliseconds: 1_764_000_000_000, pressCount: 2,
        zones: ["path"], boxes: [[0, 0, 64, 48]], score: 0.3)

    @Test("a doorbell's own events have no problem")
    func good() {
        #expect(Self.good.problem == nil)
    }

    @Test(
        "each field out of bounds is named",
        arguments: [
            ("wallMilliseconds", { @Sendable (event: inout WireEvent) in event.wallMilliseconds = .min }),
            ("wallMilliseconds", { $0.wallMilliseconds = .max }),
            ("wallMilliseconds", { $0.wallMilliseconds = -1 }),
            ("pressCount", { $0.pressCount = .min }),
            ("pressCount", { $0.pressCount = 0 }),
            ("key", { $0.key = "" }),
            ("key", { $0.key = String(repeating: "k", count: 129) }),
            ("eventID", { $0.eventID = "" }),
            ("kind", { $0.kind = EventKind(rawValue: String(repeating: "x", count: 33)) }),
            ("kind", { $0.kind = EventKind(rawValue: "") }),
            ("zones", { $0.zones = Array(repeating: "z", count: 33) }),
            ("zones[]", { $0.zones = [""] }),
            ("boxes", { $0.boxes = [[1, 2, 3]] }),
            ("boxes", { $0.boxes = [[0, 0, .max, 1]] }),
            ("boxes", { $0.boxes = [[-1, 0, 1, 1]] }),
            ("boxes", { $0.boxes = Array(repeating: [0, 0, 1, 1], count: 65) }),
            ("score", { $0.score = -.infinity }),
            ("reason", { $0.reason = String(repeating: "r", count: 501) }),
        ] as [(String, @Sendable (inout WireEvent) -> Void)])
    func outOfBounds(_ field: String, _ change: @Sendable (inout WireEvent) -> Void) {
        var event = Self.good
        change(&event)
        #expect(event.problem?.hasPrefix(field + ":") == true, "\(event.problem ?? "no problem")")
    }

    @Test("an event of a kind this version does not know is kept as it came; every known kind decodes as itself")
    func kinds() throws {
        let good = String(decoding: try JSONEncoder().encode(Self.good), as: UTF8.self)
        #expect(good.contains(#""kind":"motion-started""#))
        func decode(_ kind: String) throws -> WireEvent {
            let json = good.replacingOccurrences(of: #""kind":"motion-started""#, with: #""kind":"\#(kind)""#)
            return try JSONDecoder().decode(WireEvent.self, from: Data(json.utf8))
        }
        for kind in EventKind.known {
            #expect(try decode(kind.rawValue).kind == kind)
        }
        let newer = try decode("doorbell-tamper")
        #expect(newer.kind == .other("doorbell-tamper") && newer.problem == nil)
        let again = try JSONDecoder().decode(WireEvent.self, from: JSONEncoder().encode(newer))
        #expect(again == newer)
        #expect(try decode("RING").kind == .other("RING"))
        #expect(try decode(String(repeating: "x", count: 33)).problem?.hasPrefix("kind:") == true)
    }
}

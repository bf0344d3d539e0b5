import Foundation
import SyncProtocol
import Testing

@Suite("Request signing")
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

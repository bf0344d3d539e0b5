import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import SyncProtocol

/// The doorbell's side of pairing (docs/protocol.md, "Pairing").
public enum PairingClient {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Fetches the sync module's certificate (the one unverified request ever made: its
    /// fingerprint is checked against `expectedFingerprint`, which `pair-code` printed), then pairs
    /// over a connection that trusts that certificate only, and saves the pairing.
    public static func pair(
        url: String, code: String, name: String, expectedFingerprint: String?, stateDirectory: String
    ) async throws -> PairingRecord {
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        let (secret, binding) = try PairingCode.parse(code)
        // Without the code's binding and without a fingerprint, nothing would check the
        // certificate fetched below: refused.
        guard binding != nil || expectedFingerprint != nil else {
            throw Failure(
                description:
                    "this code is only its first 8 characters: type the whole code `porchlight-sync pair-code` printed, "
                    + "or give --fingerprint")
        }
        var insecure = TLSConfiguration.makeClientConfiguration()
        insecure.certificateVerification = .none
        let probe = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: insecure))
        let certificatePEM: String
        let fingerprint: String
        do {
            let reply = try await get(probe, base + "/v1/certificate")
            try await probe.shutdown()
            do {
                (certificatePEM, fingerprint) = try PairingExchange.certificate(fromReply: reply)
            } catch {
                throw Failure(description: "\(base): \(error)")
            }
        } catch {
            try? await probe.shutdown()
            throw error
        }
        if let binding, !PairingCode.binds(binding, fingerprint: fingerprint) {
            throw Failure(
                description:
                    "the sync module's certificate (\(fingerprint)) is not the one the pairing code names: "
                    + "something between this doorbell and the sync module answered, or the code was mistyped; "
                    + "refusing to pair")
        }
        if let expected = expectedFingerprint, normalize(expected) != normalize(fingerprint) {
            throw Failure(
                description:
                    "the sync module's certificate is \(fingerprint), not the expected \(expected): refusing to pair")
        }
        let identity = try PairingRecord.identity(in: stateDirectory)
        // The talk key goes with the pairing request, so the sync module pins it now.
        let talkKey = PairingRecord.publishedTalkKey(try PairingRecord.talkKey(in: stateDirectory), signedBy: identity)
        let client = try UplinkService.client(pinning: certificatePEM)
        do {
            let record = try await register(
                client, base: base, code: secret, name: name, identity: identity, talkKey: talkKey,
                certificatePEM: certificatePEM, fingerprint: fingerprint)
            try await client.shutdown()
            try record.save(in: stateDirectory)
            return record
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    static func register(
        _ client: HTTPClient, base: String, code: String, name: String, identity: DeviceIdentity,
        talkKey: (point: Data, signature: Data)? = nil, certificatePEM: String, fingerprint: String
    ) async throws -> PairingRecord {
        var request = HTTPClientRequest(url: base + "/v1/pair")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Porchlight-Protocol", value: "\(protocolVersion)")
        request.body = .bytes(
            ByteBuffer(
                bytes: try PairingExchange.requestBody(
                    code: code, publicKey: identity.publicKey, name: name, talkKey: talkKey)))
        let response = try await client.execute(request, timeout: .seconds(10))
        var buffer = try await response.body.collect(upTo: PairingExchange.maximumReply)
        let body = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        guard response.status.code == 201, let deviceID = PairingExchange.deviceID(fromReply: body) else {
            let reason = PairingExchange.refusal(fromReply: body) ?? "HTTP \(response.status.code)"
            throw Failure(description: "pairing refused: \(reason)")
        }
        return PairingRecord(
            url: base, certificatePEM: certificatePEM, fingerprint: fingerprint, deviceID: deviceID,
            recoveryKey: PairingExchange.recoveryKey(fromReply: body))
    }

    static func get(_ client: HTTPClient, _ url: String) async throws -> Data {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        var buffer = try await response.body.collect(upTo: PairingExchange.maximumReply)
        return Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    static func normalize(_ fingerprint: String) -> String {
        fingerprint.uppercased().filter { $0 != ":" && $0 != " " }
    }
}

import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOSSL
import SwiftASN1
import SyncProtocol
import X509

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
        do {
            let reply = try await get(probe, base + "/v1/certificate")
            try await probe.shutdown()
            guard let pem = (try? JSONDecoder().decode([String: String].self, from: reply))?["certificate"] else {
                throw Failure(description: "\(base) did not send its certificate; is it a Porchlight sync module?")
            }
            certificatePEM = pem
        } catch {
            try? await probe.shutdown()
            throw error
        }
        let fingerprint = try Self.fingerprint(certificatePEM)
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
        let client = try UplinkService.client(pinning: certificatePEM)
        do {
            let record = try await register(
                client, base: base, code: secret, name: name, identity: identity, certificatePEM: certificatePEM,
                fingerprint: fingerprint)
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
        certificatePEM: String, fingerprint: String
    ) async throws -> PairingRecord {
        var request = HTTPClientRequest(url: base + "/v1/pair")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Porchlight-Protocol", value: "\(protocolVersion)")
        request.body = .bytes(
            ByteBuffer(
                bytes: try JSONEncoder().encode([
                    "code": code, "publicKey": identity.publicKey.base64EncodedString(), "name": name,
                ])))
        let response = try await client.execute(request, timeout: .seconds(10))
        var buffer = try await response.body.collect(upTo: 1 << 16)
        let body = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        guard response.status.code == 201,
            let deviceID = (try? JSONDecoder().decode([String: String].self, from: body))?["deviceID"]
        else {
            let reason =
                (try? JSONDecoder().decode([String: String].self, from: body))?["error"]
                ?? "HTTP \(response.status.code)"
            throw Failure(description: "pairing refused: \(reason)")
        }
        return PairingRecord(url: base, certificatePEM: certificatePEM, fingerprint: fingerprint, deviceID: deviceID)
    }

    static func get(_ client: HTTPClient, _ url: String) async throws -> Data {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        var buffer = try await response.body.collect(upTo: 1 << 16)
        return Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    /// SHA-256 of the certificate's DER, colon-separated hex, as `porchlight-sync pair-code` prints it.
    public static func fingerprint(_ pem: String) throws -> String {
        var serializer = DER.Serializer()
        try serializer.serialize(try Certificate(pemEncoded: pem))
        return SHA256.hash(data: Data(serializer.serializedBytes)).map { String(format: "%02X", $0) }
            .joined(separator: ":")
    }

    static func normalize(_ fingerprint: String) -> String {
        fingerprint.uppercased().filter { $0 != ":" && $0 != " " }
    }
}

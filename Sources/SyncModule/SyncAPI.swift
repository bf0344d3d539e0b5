import Foundation
import Hummingbird
import Logging
import NIOCore
import SyncProtocol

/// The sync module's HTTP API (docs/protocol.md): pairing, signed event ingest, health. Every
/// state change needs a verified signature (pairing needs a live one-time code instead); every
/// refusal is a 4xx with a reason in the body, and nothing is stored for it.
public struct SyncAPI: Sendable {
    public static let maximumBody = 1 << 20
    public static let maximumBatch = 100

    let store: any SyncStore
    let verifier: RequestVerifier
    /// Served at /v1/certificate so that `porchlightctl pair` can show and pin it.
    let certificatePEM: String
    let logger: Logger
    let now: @Sendable () -> Int64

    public init(
        store: any SyncStore, certificatePEM: String = "", logger: Logger,
        now: @escaping @Sendable () -> Int64 = SyncAPI.unixMilliseconds
    ) {
        self.store = store
        self.certificatePEM = certificatePEM
        self.logger = logger
        self.now = now
        verifier = RequestVerifier(nonces: store) { id in
            guard let record = try? store.device(id) else { return nil }
            return record.revokedAt == nil ? .active(publicKey: record.publicKey) : .revoked
        }
    }

    public static func unixMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    struct PairRequest: Decodable {
        var code: String
        var publicKey: String
        var name: String
    }

    struct EventBatch: Codable {
        var events: [WireEvent]
    }

    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/v1/health") { _, _ in json(["status": "ok"]) }
        router.get("/v1/certificate") { [certificatePEM] _, _ in json(["certificate": certificatePEM]) }
        router.post("/v1/pair") { request, _ in try await pair(request) }
        router.post("/v1/events") { request, _ in try await ingest(request) }
        return router
    }

    func pair(_ request: Request) async throws -> Response {
        let body = try await collect(request)
        guard let pairing = try? JSONDecoder().decode(PairRequest.self, from: body),
            let publicKey = Data(base64Encoded: pairing.publicKey), publicKey.count == 32,
            !pairing.name.isEmpty, pairing.name.count <= 64
        else {
            return refusal(.badRequest, "expected {\"code\", \"publicKey\" (32 bytes, base64), \"name\"}")
        }
        do {
            let device = try store.pair(code: pairing.code, publicKey: publicKey, name: pairing.name, now: now())
            logger.notice("Device paired.", metadata: ["device": "\(device.id)", "name": "\(device.name)"])
            return json(["deviceID": device.id], status: .created)
        } catch let failure as PairingFailure {
            logger.warning("Pairing refused.", metadata: ["reason": "\(failure)"])
            return refusal(.forbidden, failure.description)
        }
    }

    func ingest(_ request: Request) async throws -> Response {
        let body: Data
        do {
            body = try await collect(request)
        } catch {
            return refusal(.contentTooLarge, "the body is larger than \(Self.maximumBody) bytes")
        }
        let device: String
        do {
            device = try verifier.verify(
                method: request.method.rawValue, path: request.uri.string, headers: headers(request), body: body,
                now: now())
        } catch {
            logger.warning("Request refused.", metadata: ["reason": "\(error)"])
            return refusal(error.status == 403 ? .forbidden : .unauthorized, error.description)
        }
        guard let batch = try? JSONDecoder().decode(EventBatch.self, from: body) else {
            return refusal(.badRequest, "expected {\"events\": [...]} with the fields of docs/protocol.md")
        }
        guard batch.events.count <= Self.maximumBatch else {
            return refusal(.contentTooLarge, "at most \(Self.maximumBatch) events per request")
        }
        if let invalid = batch.events.first(where: { $0.key.isEmpty || $0.eventID.isEmpty || $0.kind.isEmpty }) {
            return refusal(.badRequest, "event \(invalid.key.isEmpty ? "without a key" : invalid.key) lacks a field")
        }
        do {
            let accepted = try store.ingest(batch.events, from: device, now: now())
            try? store.touch(device, now: now())
            return json(["accepted": accepted])
        } catch let error as DatabaseFullError {
            logger.error("Storage full; refusing events until space returns.", metadata: ["error": "\(error)"])
            return refusal(
                .init(code: 507, reasonPhrase: "Insufficient Storage"), "the sync module's disk is full; retry later")
        }
    }

    func collect(_ request: Request) async throws -> Data {
        var buffer = try await request.body.collect(upTo: Self.maximumBody)
        return buffer.readData(length: buffer.readableBytes) ?? Data()
    }

    func headers(_ request: Request) -> [String: String] {
        var result: [String: String] = [:]
        for field in request.headers { result[field.name.canonicalName] = field.value }
        return result
    }
}

/// The store ran out of space (SQLITE_FULL); the API answers 507 and the doorbell retries later.
public struct DatabaseFullError: Error, CustomStringConvertible {
    public var description: String
}

func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
    let data = (try? JSONEncoder().encode(value)) ?? Data("{}".utf8)
    return Response(
        status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

func refusal(_ status: HTTPResponse.Status, _ reason: String) -> Response {
    json(["error": reason], status: status)
}

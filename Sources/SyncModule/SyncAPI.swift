// Over 400 lines on purpose: the device API's every route with its checks (signature, body
// limit, bounds, quota) side by side, so that a reviewer sees each route's refusals in one place.
// The owner's page is in WebUI; storage is behind HubStore.

import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOCore
import Privacy
import Synchronization
import SyncProtocol
import SyncStorage

/// The request context of the sync module's routes: the peer's address, for rate limiting, and
/// the WebSocket upgrade of the control channel.
public struct SyncRequestContext: RequestContext, RemoteAddressRequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public let webSocket: WebSocketHandlerReference<Self>

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        webSocket = .init()
    }
}

/// The sync module's HTTP API (docs/protocol.md): pairing, signed event ingest, resumable media
/// upload, health. Every
/// state change needs a verified signature (pairing needs a live one-time code instead); every
/// refusal is a 4xx with a reason in the body, and nothing is stored for it.
public struct SyncAPI: Sendable {
    /// Body limits per route: an event batch, a small JSON request (pairing, a media
    /// announcement), a media chunk; GET routes take no body.
    public static let maximumBody = 1 << 20
    public static let maximumSmallBody = 4 << 10
    public static let maximumBatch = 100
    public static let maximumChunk = 4 << 20
    public static let maximumMedia = 512 << 20
    /// A notification thumbnail is a few tens of KB; more is not a thumbnail.
    public static let maximumThumbnail = 256 << 10
    /// Unfinished uploads one doorbell may have at once.
    public static let maximumUnfinished = 8

    let store: any HubStore
    let files: MediaFiles?
    /// What `/metrics` asks for as a bearer token; without one it serves nothing.
    let metricsToken: String?
    /// Deletes the oldest media when the quota is reached; without it, a full quota is a 507.
    let retention: MediaRetention?
    /// New events, for live listeners.
    public let feed: EventFeed
    /// The doorbells' control channels.
    public let control: ControlHub
    let metrics = SyncMetrics()
    /// More than five wrong pairing codes a minute from one address are answered 429.
    let throttle = FailureLimiter(limit: 5, window: .seconds(60))
    let verifier: RequestVerifier
    /// Served at /v1/certificate so that `porchlightctl pair` can show and pin it.
    let certificatePEM: String
    let logger: Logger
    let now: @Sendable () -> Int64

    public init(
        store: any HubStore, media: MediaFiles? = nil, feed: EventFeed = EventFeed(), certificatePEM: String = "",
        retention: MediaRetention? = nil, metricsToken: String? = nil, logger: Logger,
        now: @escaping @Sendable () -> Int64 = unixMilliseconds
    ) {
        self.metricsToken = metricsToken
        self.store = store
        self.files = media
        self.retention = retention
        self.feed = feed
        let pinned = PinnedTalkKeys()
        control = ControlHub(
            logger: logger, accessLog: store,
            talkKeyReported: { [store, logger] device, report in
                Self.pinTalkKey(report, of: device, store: store, pinned: pinned, logger: logger)
            }
        ) { [store] in
            guard let keys = try? store.ownerKeys() else { return nil }
            return keys.filter { $0.revokedAt == nil }.map {
                OwnerKeyWire(
                    id: $0.id, label: $0.label, publicKey: $0.publicKey, signature: $0.signature,
                    role: $0.role == .owner ? nil : $0.role.rawValue)
            }
        }
        self.certificatePEM = certificatePEM
        self.logger = logger
        self.now = now
        verifier = RequestVerifier(nonces: store) { id in
            guard let record = try? store.device(id) else { return nil }
            return record.revokedAt == nil ? .active(publicKey: record.publicKey) : .revoked
        }
    }

    struct EventBatch: Codable {
        var events: [WireEvent]
    }

    public func makeRouter() -> Router<SyncRequestContext> {
        let router = Router(context: SyncRequestContext.self)
        router.get("/v1/health") { _, _ in json(["status": "ok"]) }
        router.get("/metrics") { request, _ in
            guard let metricsToken else {
                return refusal(.notFound, "metrics are off: set [metrics] token in sync.toml")
            }
            let presented = request.headers[.authorization] ?? ""
            guard presented.hasPrefix("Bearer "), constantTimeEqual(presented.dropFirst(7), metricsToken) else {
                var response = refusal(.unauthorized, "metrics need the bearer token set in sync.toml")
                response.headers[.wwwAuthenticate] = "Bearer realm=\"porchlight-sync metrics\""
                return response
            }
            let paired = (try? store.devices().filter { $0.revokedAt == nil }.count) ?? 0
            let text = metrics.render(
                mediaBytes: files?.usedBytes ?? 0, online: control.connected.count, paired: paired)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
        router.get("/v1/certificate") { [certificatePEM] _, _ in json(["certificate": certificatePEM]) }
        router.post("/v1/pair") { request, context in try await pair(request, from: context.remoteAddress) }
        router.post("/v1/events") { request, _ in try await ingest(request) }
        router.put("/v1/media/:id") { request, context in
            try await announceMedia(request, id: context.parameters.get("id") ?? "")
        }
        router.patch("/v1/media/:id") { request, context in
            try await receiveChunk(request, id: context.parameters.get("id") ?? "")
        }
        router.get(RouterPath(accessLogPath)) { request, _ in try await accessLog(request) }
        // The control channel: a signed upgrade request (empty body), then commands both ways.
        router.ws(RouterPath(controlPath)) { request, _ in
            guard Self.unsupportedProtocol(request) == nil else {
                logger.warning("Control channel refused: not Porchlight-Protocol \(protocolVersion).")
                return .dontUpgrade
            }
            do {
                _ = try verifier.verify(
                    method: "GET", path: request.uri.string, headers: headers(request), body: Data(), now: now())
                return .upgrade([:])
            } catch {
                logger.warning("Control channel refused.", metadata: ["reason": "\(error)"])
                return .dontUpgrade
            }
        } onUpgrade: { [control] inbound, outbound, context in
            let fields = headers(context.request)
            let device = fields[SignedHeader.device] ?? fields[SignedHeader.device.lowercased()] ?? ""
            try await control.serve(device: device, inbound: inbound, outbound: outbound)
        }
        return router
    }

    /// Ends what a revoked device still has open: its control channel, talk session and live
    /// viewers. `porchlight-sync revoke` runs in another process and only writes the database, so
    /// the server calls this every half second; requests are refused from the revocation on,
    /// since each is checked against the database.
    public func enforceRevocations() {
        for device in control.engaged {
            let record: DeviceRecord?
            do {
                record = try store.device(device)
            } catch {
                // The database cannot say: fail closed.
                control.disconnect(device, reason: "cannot check the device: \(error)")
                continue
            }
            if record == nil || record?.revokedAt != nil {
                control.disconnect(device, reason: "the device was revoked")
            }
        }
    }

    /// The `426` for a device request that does not carry `Porchlight-Protocol: 1` (a doorbell
    /// newer or older than this sync module), naming the versions spoken here; nil when it does.
    static func unsupportedProtocol(_ request: Request) -> Response? {
        let name = HTTPField.Name("Porchlight-Protocol")!
        let asked = request.headers[name]
        guard asked != "\(protocolVersion)" else { return nil }
        var response = json(
            ProtocolRefusal(
                error: asked.map { "protocol version \($0.prefix(16)) is not spoken here" }
                    ?? "the Porchlight-Protocol header is missing",
                versions: [protocolVersion]),
            status: .upgradeRequired)
        response.headers[name] = "\(protocolVersion)"
        return response
    }

    struct ProtocolRefusal: Encodable {
        var error: String
        var versions: [Int]
    }

    func pair(_ request: Request, from address: SocketAddress?) async throws -> Response {
        if let unsupported = Self.unsupportedProtocol(request) { return unsupported }
        let peer = address?.ipAddress ?? "unknown"
        let taken = now()
        if let wait = throttle.take(peer, now: taken) {
            var response = refusal(.tooManyRequests, "too many wrong pairing codes; wait \(wait) s")
            response.headers[.retryAfter] = "\(wait)"
            return response
        }
        let body: Data
        do {
            var buffer = try await request.body.collect(upTo: Self.maximumSmallBody)
            body = buffer.readData(length: buffer.readableBytes) ?? Data()
        } catch {
            throttle.giveBack(peer, taken: taken)
            return refusal(.contentTooLarge, "the body is larger than \(Self.maximumSmallBody) bytes")
        }
        guard let pairing = PairingExchange.request(from: body) else {
            throttle.giveBack(peer, taken: taken)
            return refusal(.badRequest, "expected {\"code\", \"publicKey\" (32 bytes, base64), \"name\"}")
        }
        // A talk key must carry the device key's signature; none at all is a doorbell from before
        // talk keys, which reports its key on the control channel instead.
        let talkKey = TalkKeyCheck.point(
            pairing.talkKey, signature: pairing.talkKeySignature, devicePublicKey: pairing.publicKey)
        guard pairing.talkKey == nil || talkKey != nil else {
            throttle.giveBack(peer, taken: taken)
            return refusal(.badRequest, "the talk key is not signed by the device key")
        }
        do {
            let device = try store.pair(
                code: pairing.code, publicKey: pairing.publicKey, name: pairing.name, now: now())
            if let talkKey {
                do {
                    _ = try store.pinTalkKey(talkKey, for: device.id)
                } catch {
                    // The doorbell's first status report pins it instead.
                    logger.error(
                        "Cannot pin the talk key sent at pairing.",
                        metadata: ["device": "\(device.id)", "error": "\(error)"])
                }
            }
            throttle.giveBack(peer, taken: taken)
            logger.notice("Device paired.", metadata: ["device": "\(device.id)", "name": "\(device.name)"])
            do {
                try store.appendAccess(
                    at: now(), actor: "device:\(device.id)", action: "pairing", device: device.id,
                    detail: "paired as \(device.name)", source: "\(peer)")
            } catch {
                logger.error("Cannot write the access log.", metadata: ["error": "\(error)"])
            }
            // The owner's recovery key, offered for the owner to compare; the doorbell pins it only then.
            var reply = ["deviceID": device.id]
            if let keys = try? store.ownerKeys(),
                let recovery = keys.first(where: { $0.label == "recovery" && $0.revokedAt == nil })
            {
                reply["recoveryKey"] = recovery.publicKey
            }
            return json(reply, status: .created)
        } catch let failure as PairingFailure {
            logger.warning("Pairing refused.", metadata: ["reason": "\(failure)", "peer": "\(peer)"])
            return refusal(.forbidden, failure.description)
        }
    }

    /// The body and the verified device of a signed request, or the refusal to answer with. The
    /// headers are checked first (a paired, unrevoked device; the time window; every header's
    /// form), so a stranger's request is refused before a byte of its body is read; then at most
    /// `limit` bytes of body are read, then the hash, the signature and the nonce.
    func authenticate(_ request: Request, limit: Int) async -> Result<(String, Data), Refusal> {
        func refused(_ error: AuthenticationFailure) -> Result<(String, Data), Refusal> {
            logger.warning("Request refused.", metadata: ["reason": "\(error)"])
            return .failure(Refusal(refusal(error.status == 403 ? .forbidden : .unauthorized, error.description)))
        }
        if let unsupported = Self.unsupportedProtocol(request) { return .failure(Refusal(unsupported)) }
        let head: SignedRequestHead
        do {
            head = try verifier.checkHead(headers: headers(request), now: now())
        } catch {
            return refused(error)
        }
        let body: Data
        do {
            var buffer = try await request.body.collect(upTo: limit)
            body = buffer.readData(length: buffer.readableBytes) ?? Data()
        } catch {
            return .failure(Refusal(refusal(.contentTooLarge, "the body is larger than \(limit) bytes")))
        }
        do {
            let device = try verifier.verify(
                head, method: request.method.rawValue, path: request.uri.string, body: body, now: now())
            return .success((device, body))
        } catch {
            return refused(error)
        }
    }

    func ingest(_ request: Request) async throws -> Response {
        let device: String
        let body: Data
        switch await authenticate(request, limit: Self.maximumBody) {
        case .success(let verified): (device, body) = verified
        case .failure(let refused): return refused.response
        }
        guard let batch = try? JSONDecoder().decode(EventBatch.self, from: body) else {
            return refusal(.badRequest, "expected {\"events\": [...]} with the fields of docs/protocol.md")
        }
        guard batch.events.count <= Self.maximumBatch else {
            return refusal(.contentTooLarge, "at most \(Self.maximumBatch) events per request")
        }
        for (index, event) in batch.events.enumerated() {
            if let problem = event.problem {
                return refusal(.badRequest, "events[\(index)]: \(problem)")
            }
        }
        do {
            let result = try store.ingest(batch.events, from: device, now: now())
            feed.publish(result.stored.map(FeedItem.event))
            metrics.received(result.stored)
            return json(["accepted": result.accepted])
        } catch let error as DatabaseFullError {
            logger.error("Storage full; refusing events until space returns.", metadata: ["error": "\(error)"])
            return insufficientStorage("the sync module's disk is full")
        }
    }

    /// `GET /v1/access-log`: the sync module's access log and its copy of the asking doorbell's,
    /// for `porchlightctl audit verify` there.
    func accessLog(_ request: Request) async throws -> Response {
        let device: String
        switch await authenticate(request, limit: 0) {
        case .success(let verified): device = verified.0
        case .failure(let refused): return refused.response
        }
        return json(try store.accessExport(devices: [device]))
    }

    /// `PUT /v1/media/{id}`: starts or finds an upload and says how much has arrived.
    func announceMedia(_ request: Request, id mediaID: String) async throws -> Response {
        let device: String
        let body: Data
        switch await authenticate(request, limit: Self.maximumSmallBody) {
        case .success(let verified): (device, body) = verified
        case .failure(let refused): return refused.response
        }
        guard let files else { return refusal(.notFound, "this sync module does not store media") }
        guard let announcement = try? JSONDecoder().decode(MediaAnnouncement.self, from: body),
            let kind = MediaKind(mediaID: mediaID), kind == announcement.kind,
            mediaID.hasPrefix(announcement.eventID + "-"),
            (1...(kind == .thumbnail ? Self.maximumThumbnail : Self.maximumMedia)).contains(announcement.size),
            announcement.sha256.count == 64, announcement.sha256.allSatisfy(\.isHexDigit)
        else {
            return refusal(
                .badRequest,
                "expected {\"eventID\", \"kind\" (snapshot, clip or thumbnail), \"size\" (1 to \(Self.maximumMedia); "
                    + "a thumbnail at most \(Self.maximumThumbnail)), "
                    + "\"sha256\" (hex)} for a media id <eventID>-<kind>")
        }
        let record = MediaRecord(
            deviceID: device, mediaID: mediaID, eventID: announcement.eventID, kind: kind, size: announcement.size,
            sha256: announcement.sha256.lowercased(), createdAt: now())
        do {
            if let existing = try store.media(mediaID, from: device) {
                guard existing.size == record.size && existing.sha256 == record.sha256 else {
                    return refusal(.conflict, "media \(mediaID) was announced with another size or hash")
                }
                if existing.completedAt != nil { return json(MediaProgress(received: existing.size, complete: true)) }
                // All of it arrived but it was never finished (the sync module stopped between the
                // last chunk and its hash check): finish it now, or the doorbell has nothing to send.
                if files.received(device, mediaID) == existing.size, let finished = try finish(existing, files) {
                    return finished
                }
            } else {
                // A doorbell uploads one item at a time; a few unfinished ones are retries after
                // restarts. More is a doorbell holding disk and upload slots it does not use.
                guard try store.unfinishedMedia(device: device).count < Self.maximumUnfinished else {
                    return refusal(
                        .tooManyRequests,
                        "\(Self.maximumUnfinished) uploads from this doorbell are unfinished: finish them first "
                            + "(one with no chunk for a day is discarded)")
                }
                try store.beginMedia(record)
            }
        } catch let error as DatabaseFullError {
            return insufficientStorage(error.description)
        }
        return json(MediaProgress(received: files.received(device, mediaID), complete: false))
    }

    /// `PATCH /v1/media/{id}?offset=N`: appends the next chunk; checks the hash when it is all there.
    func receiveChunk(_ request: Request, id mediaID: String) async throws -> Response {
        let device: String
        let chunk: Data
        switch await authenticate(request, limit: Self.maximumChunk) {
        case .success(let verified): (device, chunk) = verified
        case .failure(let refused): return refused.response
        }
        guard let files else { return refusal(.notFound, "this sync module does not store media") }
        guard let offset = request.uri.queryParameters.get("offset", as: Int.self),
            (0..<Self.maximumMedia).contains(offset)
        else {
            return refusal(.badRequest, "offset: expected ?offset=BYTES, 0 to \(Self.maximumMedia - 1)")
        }
        guard !chunk.isEmpty else { return refusal(.badRequest, "expected a non-empty chunk") }
        guard let record = try store.media(mediaID, from: device) else {
            return refusal(.notFound, "announce media \(mediaID) with PUT first")
        }
        if record.completedAt != nil { return json(MediaProgress(received: record.size, complete: true)) }
        // Both bounded (offset below maximumMedia, the chunk below maximumChunk): no overflow.
        guard offset <= record.size, chunk.count <= record.size - offset else {
            return refusal(.badRequest, "the chunk goes past the announced size \(record.size)")
        }
        // No picture is stored in the clear: an item begins with its sealed header.
        guard offset > 0 || SealedMedia.beginsSealed(chunk) else {
            try store.discardMedia(mediaID, from: device)
            logger.error("Refused unsealed media; none is stored in the clear.", metadata: ["media": "\(mediaID)"])
            return refusal(
                .unsupportedMediaType, "media must be sealed for the owner's keys (PLS1); none is stored in the clear")
        }
        var received: Int
        do {
            do {
                received = try files.append(chunk, at: offset, deviceID: device, mediaID: mediaID)
            } catch .full where retention?.makeRoom(record.size - offset, for: device) == true {
                // The quota is reached: the oldest media made room for the rest of this item.
                received = try files.append(chunk, at: offset, deviceID: device, mediaID: mediaID)
            }
        } catch {
            switch error {
            case .busy: return refusal(.conflict, "another chunk of \(mediaID) is being written; retry")
            case .offset(let received):
                return json(MediaProgress(received: received, complete: false), status: .conflict)
            case .full(let reason):
                logger.error("Storage full; refusing media until space returns.", metadata: ["reason": "\(reason)"])
                return insufficientStorage(reason)
            case .io(let reason):
                logger.error("Cannot store media.", metadata: ["media": "\(mediaID)", "error": "\(reason)"])
                return refusal(.internalServerError, "cannot store the chunk")
            }
        }
        guard received == record.size else { return json(MediaProgress(received: received, complete: false)) }
        return try finish(record, files)
            ?? refusal(.conflict, "another request is finishing \(mediaID); announce it again")
    }

    /// All of an item is on disk: checks its hash, gives it its final name and records it
    /// complete. Nil while another request writes or finishes it.
    private func finish(_ record: MediaRecord, _ files: MediaFiles) throws -> Response? {
        do {
            guard try files.finish(record) else {
                try store.discardMedia(record.mediaID, from: record.deviceID)
                logger.warning("Media hash mismatch; upload discarded.", metadata: ["media": "\(record.mediaID)"])
                return refusal(.unprocessableContent, "the SHA-256 of the whole file does not match; upload it again")
            }
        } catch MediaFiles.AppendError.busy {
            return nil
        }
        do {
            try store.completeMedia(record.mediaID, from: record.deviceID, now: now())
        } catch let error as DatabaseFullError {
            return insufficientStorage(error.description)
        }
        metrics.mediaCompleted()
        var completed = record
        completed.completedAt = now()
        feed.publish([.media(completed)])
        logger.info("Media stored.", metadata: ["media": "\(record.mediaID)", "bytes": "\(record.size)"])
        return json(MediaProgress(received: record.size, complete: true), status: .created)
    }

    func insufficientStorage(_ reason: String) -> Response {
        refusal(.init(code: 507, reasonPhrase: "Insufficient Storage"), "\(reason); retry later")
    }

    func headers(_ request: Request) -> [String: String] {
        var result: [String: String] = [:]
        for field in request.headers { result[field.name.canonicalName] = field.value }
        return result
    }
}

/// How much of a media item the sync module holds (docs/protocol.md, Media).
public struct MediaProgress: Codable, Sendable, Equatable {
    public var received: Int
    public var complete: Bool
}

/// A response that ends a request early.
struct Refusal: Error {
    var response: Response
    init(_ response: Response) { self.response = response }
}

/// Counts failures per address (wrong pairing codes, wrong passwords): past `limit` within
/// `window`, the address is refused until the oldest failure leaves the window, so that a code or
/// a password cannot be guessed at network speed. A try is taken before the check that can fail
/// and counts as a failure from then on, so tries still in flight use up the allowance too: a
/// hundred wrong passwords sent at once get `limit` checks, not a hundred.
public final class FailureLimiter: Sendable {
    let limit: Int
    let window: Int64
    private let failures = Mutex<[String: [Int64]]>([:])

    public init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = Int64(window / .milliseconds(1))
    }

    /// Takes one of `peer`'s tries, or returns the seconds to wait when it has none left.
    public func take(_ peer: String, now: Int64) -> Int? {
        failures.withLock { table in
            let recent = (table[peer] ?? []).filter { now - $0 < window }
            guard recent.count < limit else {
                table[peer] = recent
                return Int((recent[0] + window - now + 999) / 1000)
            }
            table[peer] = recent + [now]
            return nil
        }
    }

    /// Gives back the try taken at `taken`: it succeeded, or it never came to the check.
    public func giveBack(_ peer: String, taken: Int64) {
        failures.withLock { table in
            guard var recent = table[peer], let index = recent.lastIndex(of: taken) else { return }
            recent.remove(at: index)
            table[peer] = recent.isEmpty ? nil : recent
        }
    }
}

public func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
    let data = (try? JSONEncoder().encode(value)) ?? Data("{}".utf8)
    return Response(
        status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

public func refusal(_ status: HTTPResponse.Status, _ reason: String) -> Response {
    json(["error": reason], status: status)
}

import Privacy
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import Mustache
import NIOCore
import ServiceLifecycle
import SyncModule
import SyncStorage
import SyncProtocol
import Synchronization

extension WebApp {
    // MARK: Media

    func mediaRoutes() -> RouteCollection<WebRequestContext> {
        let routes = RouteCollection(context: WebRequestContext.self)
        group(routes, .script).get("/media/:device/:id") { request, context in
            try await serveMedia(
                request, try context.owner(), device: context.parameters.get("device") ?? "",
                id: context.parameters.get("id") ?? "", context: context, logged: false)
        }
        group(routes, .form).post("/media/:device/:id") { request, context in
            try await serveMedia(
                request, try context.owner(), device: context.parameters.get("device") ?? "",
                id: context.parameters.get("id") ?? "", context: context, logged: true)
        }
        group(routes, .page).get("/clip/:device/:id") { _, context in
            try clipPage(
                try context.owner(), device: context.parameters.get("device") ?? "",
                id: context.parameters.get("id") ?? "")
        }
        return routes
    }

    func record(device: String, id: String) throws -> MediaRecord? {
        try store.media(id, from: device, complete: true)
    }

    /// A snapshot or clip. A snapshot shows with a GET (an `<img>`); a clip, and any download,
    /// only with the POST that logs it (`logged`).
    func serveMedia(
        _ request: Request, _ session: OwnerSession, device: String, id: String, context: WebRequestContext,
        logged: Bool
    ) async throws -> Response {
        guard let record = try record(device: device, id: id), let size = Self.fileSize(media.path(record)) else {
            return plain(.notFound, "no such media")
        }
        let download = request.uri.queryParameters.get("download") != nil
        // A thumbnail is a small snapshot, fetched by the service worker for a notification.
        guard logged || ([.snapshot, .thumbnail].contains(record.kind) && !download) else {
            var response = plain(
                .methodNotAllowed,
                "a clip or a download opens with POST and the CSRF token: each is an access-log entry")
            response.headers[.allow] = "POST"
            return response
        }
        var headers: HTTPFields = [
            .contentType: record.kind.contentType,
            .cacheControl: "private, max-age=3600",
        ]
        if download {
            headers[.contentDisposition] =
                "attachment; filename=\"porchlight-\(record.mediaID)\(record.kind.fileExtension)\""
            audit(session, "download", device: device, detail: record.mediaID, request)
        } else if record.kind == .clip {
            audit(session, "clip-view", device: device, detail: record.mediaID, request)
        }
        return try await Self.fileResponse(
            media.path(record), size: size, headers: headers, request: request, context: context)
    }

    static func fileSize(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
    }

    /// A media file streamed from disk in 128 KiB pieces, never read whole into memory (a clip
    /// may be 512 MiB, and a share link is open to anyone who has it). One `Range: bytes=` range
    /// gets 206 with its `Content-Range`; one past the end, 416; several, the whole file.
    static func fileResponse(
        _ path: String, size: Int, headers: HTTPFields, request: Request, context: WebRequestContext
    ) async throws -> Response {
        var headers = headers
        headers[.acceptRanges] = "bytes"
        var status = HTTPResponse.Status.ok
        var range = 0...(max(size, 1) - 1)
        if let asked = request.headers[.range] {
            switch ByteRange(asked, size: size) {
            case .whole: break
            case .part(let part):
                range = part
                status = .partialContent
                headers[.contentRange] = "bytes \(part.lowerBound)-\(part.upperBound)/\(size)"
            case .unsatisfiable:
                return Response(status: .rangeNotSatisfiable, headers: [.contentRange: "bytes */\(size)"])
            }
        }
        headers[.contentLength] = "\(size == 0 ? 0 : range.count)"
        guard size > 0 else { return Response(status: status, headers: headers) }
        let body = try await FileIO().loadFile(path: path, range: range, context: context)
        return Response(status: status, headers: headers, body: body)
    }

    func clipPage(_ session: OwnerSession, device: String, id: String) throws -> Response {
        guard let record = try record(device: device, id: id), record.kind == .clip else {
            return html(
                pages.render(MessagePage(title: "Not found", text: "There is no such clip."), session: session),
                status: .notFound)
        }
        let events = try store.related(to: record.eventID)
        let page = ClipPage(
            source: "/media/\(device)/\(id)", download: "/media/\(device)/\(id)?download=1",
            size: ByteCountFormatter.string(fromByteCount: Int64(record.size), countStyle: .file),
            when: events.first.map {
                Self.timeFormatter.string(from: Date(timeIntervalSince1970: Double($0.event.wallMilliseconds) / 1000))
            } ?? "")
        return html(pages.render(page, session: session))
    }

    // MARK: Sharing

    func shareRoutes() -> RouteCollection<WebRequestContext> {
        let routes = RouteCollection(context: WebRequestContext.self)
        group(routes, .form).post("/clip/:device/:id/share") { request, context in
            try await createShare(
                request, try context.owner(), device: context.parameters.get("device") ?? "",
                id: context.parameters.get("id") ?? "")
        }
        group(routes, .page).get("/shares") { _, context in try sharesPage(try context.owner()) }
        group(routes, .form).post("/shares/:id/revoke") { request, context in
            revokeShare(request, try context.owner(), id: context.parameters.get("id") ?? "")
        }
        // A share link: no session, only the token in the path and the key in the fragment.
        routes.get("/share/:token") { _, context in sharedPage(token: context.parameters.get("token") ?? "") }
        routes.post("/share/:token/clip") { request, context in
            try await sharedClip(request, token: context.parameters.get("token") ?? "", context: context)
        }
        return routes
    }

    struct NewShare: Decodable {
        var wrappedKey: String
        var hours: Int
    }

    /// Records a share the page made for one sealed clip (JSON `{wrappedKey, hours}`); answers the
    /// link's path. The token is made here; the key that opens the clip never comes here.
    func createShare(_ request: Request, _ session: OwnerSession, device: String, id: String) async throws -> Response {
        var body = try await request.body.collect(upTo: 16 << 10)
        guard
            let asked = try? JSONDecoder().decode(
                NewShare.self, from: body.readData(length: body.readableBytes) ?? Data())
        else { return plain(.badRequest, "expected {\"wrappedKey\", \"hours\"}") }
        // Checked before the multiplication below, which a huge `hours` would overflow.
        guard (1...(30 * 24)).contains(asked.hours) else {
            return plain(.badRequest, "hours: \(ShareError.invalidLifetime)")
        }
        guard let record = try record(device: device, id: id), record.kind == .clip else {
            return plain(.notFound, "no such clip")
        }
        guard let handle = FileHandle(forReadingAtPath: media.path(record)),
            (try? handle.read(upToCount: 4)) == Data("PLS1".utf8)
        else { return plain(.conflict, "only a sealed clip can be shared; make a key first") }
        try? handle.close()
        let token = Sessions.random()
        let current = now()
        do {
            let share = try store.createShare(
                tokenHash: sha256Hex(Data(token.utf8)), deviceID: device, mediaID: id, wrappedKey: asked.wrappedKey,
                owner: session.owner, now: current, expiresAt: current + Int64(asked.hours) * 3_600_000)
            let until = Self.timeFormatter.string(from: Date(timeIntervalSince1970: Double(share.expiresAt) / 1000))
            audit(session, "share-create", device: device, detail: "\(id) until \(until) (link \(share.id))", request)
            return json(["path": "/share/\(token)", "id": share.id, "until": until])
        } catch let error as ShareError {
            return plain(.badRequest, error.description)
        }
    }

    func sharesPage(_ session: OwnerSession) throws -> Response {
        let current = now()
        let time = { (at: Int64) in Self.timeFormatter.string(from: Date(timeIntervalSince1970: Double(at) / 1000)) }
        let shares = try store.shares().map { share in
            SharesPage.Share(
                id: share.id, device: share.deviceID, media: share.mediaID, created: time(share.createdAt),
                until: time(share.expiresAt), opened: share.opened, live: share.isLive(now: current),
                state: share.revokedAt != nil ? "revoked" : share.isLive(now: current) ? "active" : "expired")
        }
        return html(pages.render(SharesPage(shares: shares, empty: shares.isEmpty), session: session))
    }

    func revokeShare(_ request: Request, _ session: OwnerSession, id: String) -> Response {
        if (try? store.revokeShare(id, now: now())) == true {
            audit(session, "share-revoke", device: "", detail: "link \(id)", request)
        }
        return redirect("/shares")
    }

    /// The share behind a link's token, if it still opens anything; else the page that says why.
    enum SharedLink {
        case live(ShareRecord)
        case refused(Response)
    }

    func liveShare(token: String) -> SharedLink {
        guard let share = try? store.share(tokenHash: sha256Hex(Data(token.utf8))) else {
            return .refused(
                html(
                    pages.render(MessagePage(title: "Not found", text: "There is no such link."), session: nil),
                    status: .notFound))
        }
        guard share.isLive(now: now()) else {
            let why = share.revokedAt != nil ? "The owner revoked this link." : "This link has expired."
            return .refused(html(pages.render(MessagePage(title: "Gone", text: why), session: nil), status: .gone))
        }
        return .live(share)
    }

    func sharedPage(token: String) -> Response {
        switch liveShare(token: token) {
        case .refused(let response): return response
        case .live(let share):
            let page = SharedPage(
                source: "/share/\(token)/clip", wrapped: share.wrappedKey,
                until: Self.timeFormatter.string(from: Date(timeIntervalSince1970: Double(share.expiresAt) / 1000)))
            // No referrer and no caching, as on every page (SecurityHeadersMiddleware): the token
            // is in the path.
            return html(pages.render(page, session: nil))
        }
    }

    /// The sealed clip of a live share. Its openings are in the access log, coalesced: a link
    /// opened again and again (by whoever has it) makes one entry per ten minutes, which counts
    /// the openings since the last; past 30 openings in a minute it is answered 429.
    func sharedClip(_ request: Request, token: String, context: WebRequestContext) async throws -> Response {
        switch liveShare(token: token) {
        case .refused(let response): return response
        case .live(let share):
            guard let record = try record(device: share.deviceID, id: share.mediaID),
                let size = Self.fileSize(media.path(record))
            else { return plain(.gone, "the clip was deleted") }
            switch shareOpenings.open(share.id, now: now()) {
            case .refused(let wait):
                var response = plain(.tooManyRequests, "this link was opened too often; wait \(wait) s")
                response.headers[.retryAfter] = "\(wait)"
                return response
            case .coalesced: break
            case .log(let openings):
                try? store.markShareOpened(share.id)
                do {
                    try store.appendAccess(
                        at: now(), actor: "share:\(share.id)", action: "share-open", device: share.deviceID,
                        detail: openings == 1 ? share.mediaID : "\(share.mediaID) (\(openings) openings)",
                        source: request.headers[.userAgent].map { "web (\($0.prefix(60)))" } ?? "web")
                } catch {
                    logger.error("Cannot write the access log.", metadata: ["error": "\(error)"])
                }
            }
            return try await Self.fileResponse(
                media.path(record), size: size,
                headers: [.contentType: "application/octet-stream", .cacheControl: "no-store"], request: request,
                context: context)
        }
    }
}

/// One `Range: bytes=` request header against a file of `size` bytes (RFC 9110, 14.1.2).
enum ByteRange: Equatable {
    /// No usable single range (several, or not bytes): the whole file.
    case whole
    case part(ClosedRange<Int>)
    /// A range that starts past the end.
    case unsatisfiable

    init(_ header: String, size: Int) {
        guard header.hasPrefix("bytes="), !header.contains(","), header.count <= 64 else {
            self = .whole
            return
        }
        let spec = header.dropFirst("bytes=".count).split(separator: "-", omittingEmptySubsequences: false)
        guard spec.count == 2 else {
            self = .whole
            return
        }
        let first = spec[0].trimmingCharacters(in: .whitespaces)
        let last = spec[1].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            // The last N bytes.
            guard let suffix = Int(last), suffix >= 0 else {
                self = .whole
                return
            }
            guard suffix > 0 else {
                self = .unsatisfiable
                return
            }
            self = size == 0 ? .unsatisfiable : .part(max(0, size - suffix)...(size - 1))
            return
        }
        guard let start = Int(first), start >= 0 else {
            self = .whole
            return
        }
        guard start < size else {
            self = .unsatisfiable
            return
        }
        if last.isEmpty {
            self = .part(start...(size - 1))
        } else if let end = Int(last), end >= start {
            self = .part(start...min(end, size - 1))
        } else {
            self = .whole
        }
    }
}

/// Share-link openings, per link: logged once per `interval` with the count since, and refused
/// past `perMinute` in a minute, so that whoever has a link cannot flood the access log or the
/// disk's read bandwidth.
final class ShareOpenings: Sendable {
    enum Verdict: Equatable {
        /// Write an entry for this many openings (this one included).
        case log(Int)
        /// Counted; the next entry will say so.
        case coalesced
        case refused(seconds: Int)
    }

    let interval: Int64
    let perMinute: Int
    private let state = Mutex<[String: (lastLogged: Int64, unlogged: Int, recent: [Int64])]>([:])

    init(interval: Duration = .seconds(600), perMinute: Int = 30) {
        self.interval = Int64(interval / .milliseconds(1))
        self.perMinute = perMinute
    }

    func open(_ share: String, now: Int64) -> Verdict {
        state.withLock { table in
            var entry = table[share] ?? (lastLogged: Int64.min, unlogged: 0, recent: [])
            entry.recent = entry.recent.filter { now - $0 < 60_000 }
            guard entry.recent.count < perMinute else {
                table[share] = entry
                return .refused(seconds: Int((entry.recent[0] + 60_000 - now + 999) / 1000))
            }
            entry.recent.append(now)
            entry.unlogged += 1
            defer { table[share] = entry }
            guard entry.lastLogged == Int64.min || now - entry.lastLogged >= interval else { return .coalesced }
            let openings = entry.unlogged
            entry.lastLogged = now
            entry.unlogged = 0
            return .log(openings)
        }
    }
}

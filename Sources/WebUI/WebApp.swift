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
import SyncProtocol
import Synchronization

/// The owner's web page, served by the sync module on its own HTTPS port: login, the timeline
/// (with live updates over server-sent events), clips, live view, device status and the access
/// log. Server-rendered HTML with a small script and no external resource. Every page, snapshot,
/// clip and stream needs a session; every form and script request needs the session's CSRF token;
/// every clip view, download and live viewer is an access-log entry. No GET writes one: what is
/// logged is a POST (with the CSRF token), which a link preview, a prefetch or an `<img>` on
/// another site cannot send, so none of them can fill the log or forge a view in it.
public struct WebApp: Sendable {
    let store: any OwnerStore & SyncStore & OwnerKeyStore & AccessLogStore & ShareStore
    let api: SyncAPI
    let media: MediaFiles
    let sessions: Sessions
    let pages: Pages
    let logger: Logger
    let now: @Sendable () -> Int64
    /// The longest live view, `live_view_max_s` (the doorbell also caps it).
    let liveMax: Duration
    /// Access-log signatures the page has already checked, so each view checks only new ones.
    let verifiedSignatures = VerifiedSignatures()
    /// Share-link openings, coalesced and limited (see ``sharedClip(_:token:context:)``).
    let shareOpenings = ShareOpenings()
    /// Live-stream tickets, one per logged viewer (see ``startLive(_:_:device:)``).
    let liveTickets = LiveTickets()

    public init(
        store: any OwnerStore & SyncStore & OwnerKeyStore & AccessLogStore & ShareStore, api: SyncAPI,
        media: MediaFiles, logger: Logger,
        liveMax: Duration,
        now: @escaping @Sendable () -> Int64 = SyncAPI.unixMilliseconds
    ) throws {
        self.store = store
        self.api = api
        self.media = media
        self.logger = logger
        self.liveMax = liveMax
        self.now = now
        sessions = Sessions(store: store)
        pages = try Pages()
    }

    public func install(_ router: Router<SyncRequestContext>) {
        router.get("/static/app.js") { _, _ in asset(Assets.script, type: "text/javascript; charset=utf-8") }
        router.get("/static/sealed.js") { _, _ in asset(Assets.sealedScript, type: "text/javascript; charset=utf-8") }
        router.get("/static/talk-worklet.js") { _, _ in
            asset(Assets.talkWorklet, type: "text/javascript; charset=utf-8")
        }
        router.get("/static/app.css") { _, _ in asset(Assets.style, type: "text/css; charset=utf-8") }
        router.get("/login") { request, _ in loginPage(request, message: nil) }
        router.post("/login") { request, context in try await login(request, peer: context.remoteAddress) }
        router.post("/logout") { request, _ in
            try await withSession(request, form: true) { session in
                sessions.logout(request)
                audit(session, "logout", device: "", detail: "", request)
                var response = redirect("/login")
                response.setCookie(Sessions.ownerCookie(Sessions.cookie, "", maxAge: 0))
                return response
            }
        }
        router.get("/") { request, _ in
            try await withSession(request, page: true) { session in try timeline(request, session) }
        }
        router.get("/events/stream") { request, _ in try await withSession(request) { _ in eventStream() } }
        router.get("/media/:device/:id") { request, context in
            try await withSession(request) { session in
                try await serveMedia(
                    request, session, device: context.parameters.get("device") ?? "",
                    id: context.parameters.get("id") ?? "", context: context, logged: false)
            }
        }
        router.post("/media/:device/:id") { request, context in
            try await withSession(request, form: true) { session in
                try await serveMedia(
                    request, session, device: context.parameters.get("device") ?? "",
                    id: context.parameters.get("id") ?? "", context: context, logged: true)
            }
        }
        router.get("/clip/:device/:id") { request, context in
            try await withSession(request, page: true) { session in
                try clipPage(
                    session, device: context.parameters.get("device") ?? "", id: context.parameters.get("id") ?? "")
            }
        }
        router.post("/clip/:device/:id/share") { request, context in
            try await withSession(request, form: true) { session in
                try await createShare(
                    request, session, device: context.parameters.get("device") ?? "",
                    id: context.parameters.get("id") ?? "")
            }
        }
        router.get("/shares") { request, _ in
            try await withSession(request, page: true) { session in try sharesPage(session) }
        }
        router.post("/shares/:id/revoke") { request, context in
            try await withSession(request, form: true) { session in
                revokeShare(request, session, id: context.parameters.get("id") ?? "")
            }
        }
        // A share link: no session, only the token in the path and the key in the fragment.
        router.get("/share/:token") { request, context in sharedPage(token: context.parameters.get("token") ?? "") }
        router.post("/share/:token/clip") { request, context in
            try await sharedClip(request, token: context.parameters.get("token") ?? "", context: context)
        }
        router.get("/devices") { request, _ in
            try await withSession(request, page: true) { session in try devicesPage(session) }
        }
        router.get("/access") { request, _ in
            try await withSession(request, page: true) { session in try accessPage(session) }
        }
        router.post("/access.json") { request, _ in
            try await withSession(request, form: true) { session in try accessExport(request, session) }
        }
        router.get("/keys") { request, _ in
            try await withSession(request, page: true) { session in try keysPage(session, request) }
        }
        router.post("/keys") { request, _ in
            try await withSession(request, form: true) { session in try await addKey(request, session) }
        }
        router.post("/keys/:id/revoke") { request, context in
            try await withSession(request, form: true) { session in
                revokeKey(request, session, id: context.parameters.get("id") ?? "")
            }
        }
        router.get("/live/:device") { request, context in
            try await withSession(request, page: true) { session in
                try livePage(session, device: context.parameters.get("device") ?? "")
            }
        }
        router.post("/live/:device/start") { request, context in
            try await withSession(request, form: true) { session in
                await startLive(request, session, device: context.parameters.get("device") ?? "")
            }
        }
        router.get("/live/:device/stream") { request, context in
            try await withSession(request) { session in
                liveStream(
                    session, device: context.parameters.get("device") ?? "",
                    ticket: request.uri.queryParameters.get("ticket") ?? "")
            }
        }
        router.post("/live/:device/reply") { request, context in
            try await withSession(request, form: true) { session in
                await quickReply(request, session, device: context.parameters.get("device") ?? "")
            }
        }
        // Talk: a WebSocket from the page, with the session cookie, the CSRF token in the query
        // and an Origin of this site (so another site cannot open it with the owner's cookie).
        router.ws("/live/:device/talk") { request, _ in
            guard let session = sessions.session(request, now: now()),
                constantTimeEqual(request.uri.queryParameters.get("csrf") ?? "", session.csrf), Self.sameOrigin(request)
            else {
                logger.warning("Refused a talk connection without a session, CSRF token or matching origin.")
                return .dontUpgrade
            }
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            guard let session = sessions.session(context.request, now: now()) else { return }
            try await talk(
                session, device: context.requestContext.parameters.get("device") ?? "", request: context.request,
                inbound: inbound, outbound: outbound)
        }
    }

    /// Whether the request's Origin names the host it was sent to.
    static func sameOrigin(_ request: Request) -> Bool {
        guard let origin = request.headers[.origin], let host = request.head.authority
        else { return false }
        return origin == "https://" + host
    }

    // MARK: Sessions and CSRF

    /// Runs `body` for a request with a valid session. Without one, a page redirects to the login
    /// and anything else is 401. With `form`, the request must also carry the session's CSRF token
    /// (the `X-CSRF-Token` header, or else the `csrf` form field), else 403. The body is read for
    /// the field only when the header is absent, so a script's JSON body stays for `body`.
    func withSession(
        _ request: Request, page: Bool = false, form: Bool = false,
        _ body: (OwnerSession) async throws -> Response
    ) async throws -> Response {
        guard let session = sessions.session(request, now: now()) else {
            return page ? redirect("/login") : plain(.unauthorized, "log in first")
        }
        if form {
            var token = request.headers[HTTPField.Name("X-CSRF-Token")!] ?? ""
            if token.isEmpty { token = try await Self.form(CSRFField.self, of: request)?.csrf ?? "" }
            guard !token.isEmpty, constantTimeEqual(token, session.csrf) else {
                logger.warning(
                    "Refused a request without a valid CSRF token.", metadata: ["path": "\(request.uri.path)"])
                return plain(.forbidden, "missing or wrong CSRF token; reload the page")
            }
        }
        do {
            return try await body(session)
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            // A store that cannot be read gets an error page, never a page that looks empty.
            logger.error("Cannot read the store.", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            let text =
                "The sync module cannot read its database (\(error)). Nothing is shown rather than a page "
                + "that may be incomplete; the journal (journalctl -u porchlight-sync) has the details."
            guard page else { return plain(.serviceUnavailable, text) }
            return html(
                pages.render("message", ["title": "Database error", "text": text], session: session),
                status: .serviceUnavailable)
        }
    }

    struct CSRFField: Decodable {
        var csrf: String?
    }

    struct LoginForm: Decodable {
        var csrf: String
        var name: String
        var password: String
    }

    /// A small `application/x-www-form-urlencoded` body, decoded by Hummingbird; nil if it does
    /// not have the fields.
    static func form<T: Decodable>(_ type: T.Type, of request: Request) async throws -> T? {
        var buffer = try await request.body.collect(upTo: 64 << 10)
        return try? URLEncodedFormDecoder().decode(type, from: buffer.readString(length: buffer.readableBytes) ?? "")
    }

    func loginPage(_ request: Request, message: String?, status: HTTPResponse.Status = .ok) -> Response {
        // Login CSRF: a random value in a cookie and in the form must match (double submit).
        let token = Sessions.random()
        var context: [String: Any] = ["title": "Log in", "csrf": token]
        if let message { context["message"] = message }
        var response = html(pages.render("login", context, session: nil), status: status)
        response.setCookie(Sessions.ownerCookie(Sessions.loginCookie, token, maxAge: 3600))
        return response
    }

    func login(_ request: Request, peer: SocketAddress?) async throws -> Response {
        guard let fields = try await Self.form(LoginForm.self, of: request), !fields.csrf.isEmpty,
            constantTimeEqual(fields.csrf, request.cookies[Sessions.loginCookie]?.value ?? "")
        else {
            return loginPage(request, message: "The form expired; please try again.", status: .forbidden)
        }
        let address = peer?.ipAddress ?? "unknown"
        switch await sessions.login(name: fields.name, password: fields.password, peer: address, now: now()) {
        case .success(let token, let session):
            audit(session, "login", device: "", detail: "", request, source: address)
            // The first sign-in leads to the owner's keys: doorbells send no picture until there is one.
            let hasKey = (try? store.ownerKeys())?.contains { $0.revokedAt == nil } ?? true
            var response = redirect(hasKey ? "/" : "/keys?first=1")
            response.setCookie(Sessions.ownerCookie(Sessions.cookie, token, maxAge: Int(Sessions.lifetime / 1000)))
            return response
        case .refused:
            logger.warning("Failed login.", metadata: ["peer": "\(address)"])
            return loginPage(request, message: "Wrong name or password.", status: .unauthorized)
        case .throttled(let seconds):
            var response = loginPage(
                request, message: "Too many failed logins; wait \(seconds) s.", status: .tooManyRequests)
            response.headers[.retryAfter] = "\(seconds)"
            return response
        case .busy:
            logger.warning("Login refused: too many password checks waiting.", metadata: ["peer": "\(address)"])
            var response = loginPage(
                request, message: "The sync module is busy checking other logins; try again.",
                status: .serviceUnavailable)
            response.headers[.retryAfter] = "1"
            return response
        }
    }

    func audit(
        _ session: OwnerSession, _ action: String, device: String, detail: String, _ request: Request,
        source: String? = nil
    ) {
        do {
            try store.appendAccess(
                at: now(), actor: "owner:\(session.owner)", action: action, device: device, detail: detail,
                source: source ?? request.headers[.userAgent].map { "web (\($0.prefix(60)))" } ?? "web")
        } catch {
            logger.error("Cannot write the access log.", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Timeline

    func timeline(_ request: Request, _ session: OwnerSession) throws -> Response {
        let parameters = request.uri.queryParameters
        var query = TimelineQuery()
        let kind = parameters.get("kind") ?? "all"
        switch kind {
        case "ring": query.kinds = ["ring", "long-press"]
        case "motion": query.kinds = ["motion-started"]
        default: break
        }
        let device = parameters.get("device").flatMap { $0.isEmpty ? nil : $0 }
        query.device = device
        let day = parameters.get("day").flatMap { $0.isEmpty ? nil : $0 }
        // Four-digit years only, so that the day's milliseconds stay far inside Int64.
        if let day, day.utf8.count == 10, let start = Self.dayFormatter.date(from: day),
            (0...253_402_300_799).contains(start.timeIntervalSince1970)
        {
            query.from = Int64(start.timeIntervalSince1970 * 1000)
            query.until = query.from! + 86_400_000
        }
        query.before = parameters.get("before", as: Int64.self)
        let events = try store.timeline(query)
        let devices = try store.devices()
        let names = try deviceNames()
        var next = "?kind=\(kind)&day=\(day ?? "")&device=\(device ?? "")"
        if events.count == query.limit, let last = events.last { next += "&before=\(last.sequence)" } else { next = "" }
        let context: [String: Any] = [
            "title": "Timeline",
            "rows": try events.map { try row($0, names: names) },
            "empty": events.isEmpty,
            "next": next,
            "day": day ?? "",
            "kinds": [("all", "Everything"), ("ring", "Rings"), ("motion", "Motion")].map {
                ["value": $0.0, "label": $0.1, "selected": $0.0 == kind]
            },
            "devices": devices.map { ["id": $0.id, "name": $0.name, "selected": $0.id == device] },
        ]
        return html(pages.render("timeline", context, session: session))
    }

    static let dayFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter
    }()

    static let timeFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE d MMM, HH:mm:ss"
        return formatter
    }()

    /// One timeline row: the event, its snapshot and clip when they have arrived, and the details
    /// of later records about it (more presses, the end of the motion).
    func row(_ stored: StoredEvent, names: [String: String]) throws -> [String: Any] {
        let event = stored.event
        let related = try store.related(to: event.eventID)
        let media = try store.media(forEvent: event.eventID)
        let snapshot = media.first { $0.kind == "snapshot" && $0.completedAt != nil && $0.deviceID == stored.deviceID }
        let clip = media.first { $0.kind == "clip" && $0.completedAt != nil && $0.deviceID == stored.deviceID }
        var details: [String] = []
        let label: String
        switch event.kind {
        case "ring":
            label = "Ring"
            let presses = related.compactMap(\.event.pressCount).max() ?? 1
            if presses > 1 { details.append("\(presses) presses") }
            if event.chimeSilenced == true { details.append("chime silenced (do not disturb)") }
        case "long-press":
            label = "Long press"
        case "motion-started":
            label = "Motion"
            if let zones = event.zones, !zones.isEmpty { details.append("in \(zones.joined(separator: ", "))") }
            if let end = related.last(where: { $0.event.kind == "motion-ended" }) {
                // In Double: rows stored before the sync module bounded wall times could overflow Int64.
                let seconds = (Double(end.event.wallMilliseconds) - Double(event.wallMilliseconds)) / 1000
                details.append("\(Int64(seconds.rounded(.towardZero))) s")
            } else {
                details.append("ongoing")
            }
        case "media-evicted":
            label = "Media lost before upload"
            details.append(event.reason ?? "")
        default:
            label = event.kind
        }
        let time = Date(timeIntervalSince1970: Double(event.wallMilliseconds) / 1000)
        return [
            "sequence": stored.sequence,
            "eventID": event.eventID,
            "kind": event.kind,
            "label": label,
            "ring": event.kind == "ring",
            "device": names[stored.deviceID] ?? stored.deviceID,
            "time": Self.timeFormatter.string(from: time),
            "iso": time.formatted(.iso8601),
            "details": details.joined(separator: " · "),
            "snapshot": snapshot.map { "/media/\($0.deviceID)/\($0.mediaID)" } ?? "",
            "clip": clip.map { "/clip/\($0.deviceID)/\($0.mediaID)" } ?? "",
            "waiting": snapshot == nil && (event.kind == "ring" || event.kind == "motion-started"),
        ]
    }

    /// Server-sent events: each new or updated timeline row, rendered, as soon as it is stored.
    /// A comment every 15 s keeps proxies from closing the stream and finds a page that went away;
    /// shutdown ends the stream.
    func eventStream() -> Response {
        let feed = api.feed.subscribe()
        let headline = TimelineQuery().kinds
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
            body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "retry: 2000\n: connected\n\n"))
                // This stream's own items, or nil when it is time for a keep-alive.
                let (items, input) = AsyncStream.makeStream(of: FeedItem?.self)
                let forward = Task {
                    for await item in feed { input.yield(item) }
                    input.finish()
                }
                let beats = Task {
                    while (try? await Task.sleep(for: .seconds(15))) != nil { input.yield(nil) }
                }
                defer {
                    forward.cancel()
                    beats.cancel()
                }
                for await item in items.cancelOnGracefulShutdown() {
                    let stored: StoredEvent?
                    switch item {
                    case .event(let event)?:
                        stored =
                            headline.contains(event.event.kind)
                            ? event : try store.related(to: event.event.eventID).first
                    case .media(let record)?:
                        stored = try store.related(to: record.eventID).first
                    case nil:
                        stored = nil
                    }
                    guard let stored else {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        continue
                    }
                    let rendered = pages.render("row", try row(stored, names: try deviceNames()), session: nil)
                    let payload = try JSONSerialization.data(withJSONObject: [
                        "sequence": stored.sequence, "eventID": stored.event.eventID, "kind": stored.event.kind,
                        "device": stored.deviceID, "html": rendered,
                    ])
                    try await writer.write(
                        ByteBuffer(string: "event: row\ndata: \(String(decoding: payload, as: UTF8.self))\n\n"))
                }
            })
    }

    func deviceNames() throws -> [String: String] {
        Dictionary(try store.devices().map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    }

    // MARK: Media

    func record(device: String, id: String) throws -> MediaRecord? {
        try store.media(id, from: device, complete: true)
    }

    /// A snapshot or clip. A snapshot shows with a GET (an `<img>`); a clip, and any download,
    /// only with the POST that logs it (`logged`).
    func serveMedia(
        _ request: Request, _ session: OwnerSession, device: String, id: String, context: SyncRequestContext,
        logged: Bool
    ) async throws -> Response {
        guard let record = try record(device: device, id: id), let size = Self.fileSize(media.path(record)) else {
            return plain(.notFound, "no such media")
        }
        let download = request.uri.queryParameters.get("download") != nil
        guard logged || (record.kind == "snapshot" && !download) else {
            var response = plain(
                .methodNotAllowed,
                "a clip or a download opens with POST and the CSRF token: each is an access-log entry")
            response.headers[.allow] = "POST"
            return response
        }
        var headers: HTTPFields = [
            .contentType: record.kind == "clip" ? "video/x-matroska" : "image/jpeg",
            .cacheControl: "private, max-age=3600",
        ]
        if download {
            headers[.contentDisposition] =
                "attachment; filename=\"porchlight-\(record.mediaID)\(record.kind == "clip" ? ".mkv" : ".jpg")\""
            audit(session, "download", device: device, detail: record.mediaID, request)
        } else if record.kind == "clip" {
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
        _ path: String, size: Int, headers: HTTPFields, request: Request, context: SyncRequestContext
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
        guard let record = try record(device: device, id: id), record.kind == "clip" else {
            return html(
                pages.render("message", ["title": "Not found", "text": "There is no such clip."], session: session),
                status: .notFound)
        }
        let events = try store.related(to: record.eventID)
        let context: [String: Any] = [
            "title": "Clip",
            "source": "/media/\(device)/\(id)",
            "download": "/media/\(device)/\(id)?download=1",
            "size": ByteCountFormatter.string(fromByteCount: Int64(record.size), countStyle: .file),
            "when": events.first.map {
                Self.timeFormatter.string(from: Date(timeIntervalSince1970: Double($0.event.wallMilliseconds) / 1000))
            } ?? "",
        ]
        return html(pages.render("clip", context, session: session))
    }

    // MARK: Sharing

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
        guard let record = try record(device: device, id: id), record.kind == "clip" else {
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
        let shares = try store.shares().map { share -> [String: Any] in
            [
                "id": share.id, "device": share.deviceID, "media": share.mediaID, "created": time(share.createdAt),
                "until": time(share.expiresAt), "opened": share.opened, "live": share.isLive(now: current),
                "state": share.revokedAt != nil ? "revoked" : share.isLive(now: current) ? "active" : "expired",
            ]
        }
        return html(
            pages.render("shares", ["title": "Shares", "shares": shares, "empty": shares.isEmpty], session: session))
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
                    pages.render("message", ["title": "Not found", "text": "There is no such link."], session: nil),
                    status: .notFound))
        }
        guard share.isLive(now: now()) else {
            let why = share.revokedAt != nil ? "The owner revoked this link." : "This link has expired."
            return .refused(html(pages.render("message", ["title": "Gone", "text": why], session: nil), status: .gone))
        }
        return .live(share)
    }

    func sharedPage(token: String) -> Response {
        switch liveShare(token: token) {
        case .refused(let response): return response
        case .live(let share):
            var response = html(
                pages.render(
                    "shared",
                    [
                        "title": "A shared clip", "source": "/share/\(token)/clip", "wrapped": share.wrappedKey,
                        "until": Self.timeFormatter.string(
                            from: Date(timeIntervalSince1970: Double(share.expiresAt) / 1000)),
                    ], session: nil))
            response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
            response.headers[.cacheControl] = "no-store"
            return response
        }
    }

    /// The sealed clip of a live share. Its openings are in the access log, coalesced: a link
    /// opened again and again (by whoever has it) makes one entry per ten minutes, which counts
    /// the openings since the last; past 30 openings in a minute it is answered 429.
    func sharedClip(_ request: Request, token: String, context: SyncRequestContext) async throws -> Response {
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

    // MARK: Devices and the access log

    func devicesPage(_ session: OwnerSession) throws -> Response {
        let online = api.control.connected
        let devices = try store.devices().map { device -> [String: Any] in
            let report = api.control.report(of: device.id)
            return [
                "id": device.id,
                "name": device.name,
                "online": online.contains(device.id),
                "revoked": device.revokedAt != nil,
                "lastSeen": device.lastSeenAt.map {
                    Self.timeFormatter.string(from: Date(timeIntervalSince1970: Double($0) / 1000))
                } ?? "never",
                "status": report?.message.status ?? "",
                "backlog": report?.message.backlog.map(String.init) ?? "",
                "version": report?.message.version ?? "",
                "camera": report?.message.camera ?? "",
            ]
        }
        return html(
            pages.render(
                "devices", ["title": "Doorbells", "devices": devices, "empty": devices.isEmpty], session: session))
    }

    /// The sync module's log and its copy of each doorbell's, merged newest first, with what the
    /// verifier says about each. The page is the sync module's word; `porchlightctl audit verify`
    /// on a doorbell checks it against the doorbell's own copies.
    func accessPage(_ session: OwnerSession) throws -> Response {
        let devices = try store.devices()
        let names = Dictionary(devices.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        let export = try store.accessExport(devices: devices.map(\.id))
        var logs: [[String: Any]] = [
            Self.verification(
                "Sync module", export.sync,
                AccessLogVerifier.verify(
                    export.sync, log: "sync", publicKey: store.accessPublicKey, verified: verifiedSignatures))
        ]
        for device in devices {
            let records = export.devices[device.id] ?? []
            logs.append(
                Self.verification(
                    "Doorbell \(device.name)", records,
                    AccessLogVerifier.verify(
                        records, log: device.id, publicKey: device.publicKey, verified: verifiedSignatures)))
        }
        let all = (export.sync + export.devices.values.joined()).sorted { $0.at > $1.at }
        let rows = all.prefix(300).map { entry -> [String: Any] in
            [
                "time": Self.timeFormatter.string(from: Date(timeIntervalSince1970: Double(entry.at) / 1000)),
                "log": entry.log == "sync" ? "sync module" : names[entry.log] ?? entry.log,
                "sequence": entry.sequence, "actor": entry.actor, "action": entry.action,
                "device": names[entry.device] ?? entry.device, "detail": entry.detail, "source": entry.source,
            ]
        }
        let context: [String: Any] = [
            "title": "Access log", "rows": rows, "logs": logs,
            "fingerprint": AccessSigner.fingerprint(of: store.accessPublicKey),
        ]
        return html(pages.render("access", context, session: session))
    }

    static func verification(_ name: String, _ records: [AccessRecord], _ findings: [AccessFinding]) -> [String: Any] {
        ["name": name, "count": records.count, "intact": findings.isEmpty, "findings": findings.map(\.description)]
    }

    /// The same logs as JSON (`AccessLogExport`), for `porchlightctl audit verify --sync-copy`.
    func accessExport(_ request: Request, _ session: OwnerSession) throws -> Response {
        let export = try store.accessExport(devices: try store.devices().map(\.id))
        audit(session, "access-log-export", device: "", detail: "\(export.sync.count) entries", request)
        var response = Response(
            status: .ok,
            headers: [
                .contentType: "application/json",
                .contentDisposition: "attachment; filename=\"porchlight-access-log.json\"",
            ],
            body: .init(byteBuffer: ByteBuffer(data: try JSONEncoder().encode(export))))
        response.headers[.cacheControl] = "no-store"
        return response
    }

    // MARK: Live view

    func livePage(_ session: OwnerSession, device: String) throws -> Response {
        guard let record = try store.device(device) else {
            return html(
                pages.render(
                    "message", ["title": "Not found", "text": "There is no such doorbell."], session: session),
                status: .notFound)
        }
        let replies = api.control.report(of: device)?.message.replies ?? []
        let context: [String: Any] = [
            "title": "Live: \(record.name)", "device": device, "name": record.name,
            "online": api.control.connected.contains(device), "maxSeconds": Int(liveMax / .seconds(1)),
            "replies": replies, "hasReplies": !replies.isEmpty,
            "talkKey": ((try? (store as? any TalkKeyStore)?.talkKey(of: device)) ?? nil)?.base64EncodedString() ?? "",
        ]
        return html(pages.render("live", context, session: session))
    }

    /// Starts the doorbell's live view, or joins the one running, and answers a ticket for one
    /// stream. Each viewer is an access-log entry here, since the stream is a GET that logs nothing.
    func startLive(_ request: Request, _ session: OwnerSession, device: String) async -> Response {
        let signed: OwnerSigned
        switch await OwnerSigned.read(request, name: "live-start", device: device) {
        case .success(let command): signed = command
        case .failure(let refusal): return plain(.badRequest, refusal.reason)
        }
        let answer = await api.control.send(
            .signedCommand("live-start", id: Sessions.random(), signed: signed.text, signature: signed.signature),
            to: device)
        guard answer.ok == true else { return plain(.serviceUnavailable, answer.reason ?? "the doorbell refused") }
        audit(session, "live-view", device: device, detail: "started", request)
        return json(LiveStart(ok: true, ticket: liveTickets.issue(owner: session.owner, device: device, now: now())))
    }

    struct LiveStart: Encodable {
        var ok: Bool
        var ticket: String
    }

    /// The live frames as a stream of length-prefixed JPEGs (4-byte big-endian length, then the
    /// bytes), which the page draws on a canvas. Ends at the time limit or when the page goes (the
    /// hub stops the doorbell's stream when its last viewer leaves).
    func liveStream(_ session: OwnerSession, device: String, ticket: String) -> Response {
        guard liveTickets.redeem(ticket, owner: session.owner, device: device, now: now()) else {
            return plain(.forbidden, "start the live view first (its ticket is missing, used or expired)")
        }
        let frames = api.control.frames(from: device)
        let limit = liveMax
        return Response(
            status: .ok,
            headers: [.contentType: "application/octet-stream", .cacheControl: "no-store"],
            body: ResponseBody { writer in
                let deadline = ContinuousClock.now + limit
                for await jpeg in frames.cancelOnGracefulShutdown() {
                    guard ContinuousClock.now < deadline else { break }
                    var buffer = ByteBuffer()
                    buffer.writeInteger(UInt32(jpeg.count))
                    buffer.writeBytes(jpeg)
                    try await writer.write(buffer)
                }
            })
    }

    // MARK: Owner keys

    func keysPage(_ session: OwnerSession, _ request: Request) throws -> Response {
        let records = try store.ownerKeys()
        let keys = records.map { key -> [String: Any] in
            [
                "id": key.id, "label": key.label, "revoked": key.revokedAt != nil,
                "created": Self.timeFormatter.string(from: Date(timeIntervalSince1970: Double(key.createdAt) / 1000)),
            ]
        }
        let recovery = records.first { $0.label == "recovery" && $0.revokedAt == nil }
        let hasRecovery = recovery != nil
        return html(
            pages.render(
                "keys",
                [
                    "title": "Keys", "keys": keys, "empty": records.allSatisfy { $0.revokedAt != nil },
                    "first": request.uri.queryParameters.get("first") != nil && recovery == nil,
                    "hasRecovery": hasRecovery ? "true" : "false", "recoveryPoint": recovery?.publicKey ?? "",
                    "recoveryFingerprint": recovery.map { OwnerPublicKey.fingerprint(ofID: $0.id) } ?? "",
                ], session: session))
    }

    struct NewKey: Decodable {
        var label: String
        var publicKey: String
        /// The recovery key's signature over it; every key but the recovery key needs one once a
        /// recovery key exists.
        var signature: String?
    }

    /// Registers a public key the page made (JSON `{label, publicKey}`) and sends the new list to
    /// every doorbell.
    func addKey(_ request: Request, _ session: OwnerSession) async throws -> Response {
        var body = try await request.body.collect(upTo: 16 << 10)
        guard
            let key = try? JSONDecoder().decode(NewKey.self, from: body.readData(length: body.readableBytes) ?? Data())
        else { return plain(.badRequest, "expected {\"label\", \"publicKey\"}") }
        do {
            let record = try store.addOwnerKey(
                owner: session.owner, label: key.label, publicKey: key.publicKey, signature: key.signature,
                now: now())
            audit(session, "key-add", device: "", detail: "\(record.label) (\(record.id))", request)
            api.control.publishOwnerKeys()
            return json(["id": record.id])
        } catch let error as OwnerKeyError {
            return plain(.badRequest, error.description)
        }
    }

    func revokeKey(_ request: Request, _ session: OwnerSession, id: String) -> Response {
        if (try? store.revokeOwnerKey(id, now: now())) == true {
            audit(session, "key-revoke", device: "", detail: id, request)
            api.control.publishOwnerKeys()
        }
        return redirect("/keys")
    }

    // MARK: Talk and quick replies

    /// Relays one talk session: the door's audio to the page, the owner's frames to the door,
    /// until either side ends it. Start and end are access-log entries.
    func talk(
        _ session: OwnerSession, device: String, request: Request, inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter
    ) async throws {
        let hub = api.control
        // The page's first message is the talk-start it signed; the session is the one it names.
        var messages = inbound.messages(maxSize: 8192).makeAsyncIterator()
        guard case .text(let first)? = try await messages.next(),
            case .success(let signed) = OwnerSigned.parse(Data(first.utf8), name: "talk-start", device: device),
            let id = signed.command.session
        else {
            try await outbound.close(.policyViolation, reason: "expected the signed talk-start first")
            return
        }
        let door: AsyncStream<Data>
        switch await hub.beginTalk(device: device, session: id, signed: signed.text, signature: signed.signature) {
        case .failure(let refused):
            try await outbound.close(.policyViolation, reason: String(refused.reason.prefix(120)))
            return
        case .success(let talk):
            door = talk.door
            try await outbound.write(.binary(ByteBuffer(bytes: talk.header)))
        }
        let started = ContinuousClock.now
        // Frames relayed each way, for the log: a talk that was heard in only one direction shows.
        let relayed = TalkCounts()
        audit(session, "talk", device: device, detail: "started", request)
        defer {
            hub.endTalk(device: device, session: id)
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            let (toDoor, notSent, toOwner) = relayed.counts.withLock { ($0.toDoor, $0.notSent, $0.toOwner) }
            audit(
                session, "talk", device: device,
                detail:
                    "ended after \(Int(seconds)) s; \(toDoor) frames to the door (\(notSent) not sent), \(toOwner) to the owner",
                request)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await frame in door {
                    try await outbound.write(.binary(ByteBuffer(bytes: frame)))
                    relayed.counts.withLock { $0.toOwner += 1 }
                }
                try? await outbound.close(.normalClosure, reason: "the talk session ended at the door")
            }
            // The owner's frames, read here: the door's side closes the socket when it ends, which
            // ends this loop too.
            while let message = try await messages.next() {
                guard case .binary(let buffer) = message, buffer.readableBytes == TalkSeal.frameSize else { continue }
                let sent = try await hub.sendTalk(Data(buffer.readableBytesView), device: device, session: id)
                relayed.counts.withLock { sent ? ($0.toDoor += 1) : ($0.notSent += 1) }
            }
            group.cancelAll()
        }
    }

    func quickReply(_ request: Request, _ session: OwnerSession, device: String) async -> Response {
        let signed: OwnerSigned
        switch await OwnerSigned.read(request, name: "quick-reply", device: device) {
        case .success(let command): signed = command
        case .failure(let refusal): return plain(.badRequest, refusal.reason)
        }
        let name = signed.command.reply ?? ""
        let answer = await api.control.send(
            .signedCommand("quick-reply", id: Sessions.random(), signed: signed.text, signature: signed.signature),
            to: device)
        guard answer.ok == true else { return plain(.serviceUnavailable, answer.reason ?? "the doorbell refused") }
        audit(session, "quick-reply", device: device, detail: name, request)
        return json(["ok": true])
    }

    // MARK: Responses

    func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=300"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy:
                    "default-src 'self'; img-src 'self' blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("Referrer-Policy")!: "no-referrer",
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
    }

    func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}

/// Frames a talk session relayed each way, and the owner's frames that found the door's session
/// or channel gone.
final class TalkCounts: Sendable {
    let counts = Mutex((toDoor: 0, notSent: 0, toOwner: 0))
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

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
        router.get("/static/clip.js") { _, _ in asset(Assets.clipScript, type: "text/javascript; charset=utf-8") }
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

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

/// The owner's web page, served by the sync module on its own HTTPS port: login, the timeline
/// (with live updates over server-sent events), clips, live view, device status and the access
/// log. Server-rendered HTML with a small script and no external resource. Every page, snapshot,
/// clip and stream needs a session; every form and script request needs the session's CSRF token;
/// every clip view, download and live viewer is an access-log entry. No GET writes one: what is
/// logged is a POST (with the CSRF token), which a link preview, a prefetch or an `<img>` on
/// another site cannot send, so none of them can fill the log or forge a view in it.
public struct WebApp: Sendable {
    let store: any HubStore
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
    /// Web Push to the owner's browsers; nil where a test builds the page without it.
    let push: PushNotifier?

    public init(
        store: any HubStore, api: SyncAPI,
        media: MediaFiles, push: PushNotifier? = nil,
        logger: Logger,
        liveMax: Duration,
        now: @escaping @Sendable () -> Int64 = unixMilliseconds
    ) throws {
        self.store = store
        self.api = api
        self.media = media
        self.push = push
        self.logger = logger
        self.liveMax = liveMax
        self.now = now
        sessions = Sessions(store: store)
        pages = try Pages()
    }

    /// Adds the page's routes, each area's a collection of its own, behind the security headers;
    /// what each route needs (a session, the CSRF token) is the middleware of its group.
    public func install(_ router: Router<SyncRequestContext>) {
        installTalk(router)
        let web = router.group(context: WebRequestContext.self).add(middleware: SecurityHeadersMiddleware())
        for routes in [
            assetRoutes(), signInRoutes(), timelineRoutes(), mediaRoutes(), shareRoutes(), deviceRoutes(),
            liveRoutes(), keyRoutes(), appRoutes(), notificationRoutes(),
        ] {
            web.addRoutes(routes)
        }
    }

    func assetRoutes() -> RouteCollection<WebRequestContext> {
        let routes = RouteCollection(context: WebRequestContext.self)
        let script = "text/javascript; charset=utf-8"
        routes.get("/static/app.js") { _, _ in asset(Assets.script, type: script) }
        routes.get("/static/sealed.js") { _, _ in asset(Assets.sealedScript, type: script) }
        routes.get("/static/clip.js") { _, _ in asset(Assets.clipScript, type: script) }
        routes.get("/static/notify.js") { _, _ in asset(Assets.notifyScript, type: script) }
        routes.get("/static/talk-worklet.js") { _, _ in asset(Assets.talkWorklet, type: script) }
        routes.get("/static/app.css") { _, _ in asset(Assets.style, type: "text/css; charset=utf-8") }
        return routes
    }

    func signInRoutes() -> RouteCollection<WebRequestContext> {
        let routes = RouteCollection(context: WebRequestContext.self)
        routes.get("/login") { request, _ in loginPage(request, message: nil) }
        routes.post("/login") { request, context in try await login(request, peer: context.remoteAddress) }
        group(routes, .form).post("/logout") { request, context in
            let session = try context.owner()
            sessions.logout(request)
            audit(session, "logout", device: "", detail: "", request)
            var response = redirect("/login")
            response.setCookie(Sessions.ownerCookie(Sessions.cookie, "", maxAge: 0))
            return response
        }
        return routes
    }

    /// Whether the request's Origin names the host it was sent to.
    static func sameOrigin(_ request: Request) -> Bool {
        guard let origin = request.headers[.origin], let host = request.head.authority
        else { return false }
        return origin == "https://" + host
    }

    // MARK: Signing in

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
        var response = html(pages.render(LoginPage(csrf: token, message: message), session: nil), status: status)
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

    /// A page; `SecurityHeadersMiddleware` adds its policy and keeps it out of caches.
    func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
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

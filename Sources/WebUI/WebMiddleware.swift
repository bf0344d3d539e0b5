import Hummingbird
import HTTPTypes
import NIOCore
import SyncModule
import SyncProtocol
import SyncStorage

/// The owner's page's request context: the sync module's, with the owner's session once
/// `OwnerSessionMiddleware` has found it.
public struct WebRequestContext: ChildRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    var session: OwnerSession?

    public init(context: SyncRequestContext) throws {
        coreContext = context.coreContext
        remoteAddress = context.remoteAddress
    }

    /// The session, which every route behind `OwnerSessionMiddleware` has.
    func owner() throws -> OwnerSession {
        guard let session else { throw HTTPError(.unauthorized, message: "log in first") }
        return session
    }
}

/// Nothing but this site, and no framing.
private let contentSecurityPolicy =
    "default-src 'self'; img-src 'self' blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
    + "form-action 'self'"

/// What the page sends with every answer, errors included: no MIME sniffing, no referrer; on
/// HTML, the content security policy (nothing but this site, no framing) and no caching.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if response.headers[.contentType]?.hasPrefix("text/html") == true {
            response.headers[.contentSecurityPolicy] = contentSecurityPolicy
            if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        }
        return response
    }
}

/// Lets through only a request with a valid session, and puts the session in the context.
/// Without one, a page redirects to the login and anything else is 401. A store that cannot be
/// read behind it gets an error page, never a page that looks empty.
struct OwnerSessionMiddleware: RouterMiddleware {
    typealias Context = WebRequestContext
    let app: WebApp
    /// A page (redirected to the login, errors as a page) or a script's request (401, plain text).
    let page: Bool

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let session = app.sessions.session(request, now: app.now()) else {
            return page ? app.redirect("/login") : app.plain(.unauthorized, "log in first")
        }
        var context = context
        context.session = session
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            app.logger.error(
                "Cannot read the store.", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            let text =
                "The sync module cannot read its database (\(error)). Nothing is shown rather than a page "
                + "that may be incomplete; the journal (journalctl -u porchlight-sync) has the details."
            guard page else { return app.plain(.serviceUnavailable, text) }
            return app.html(
                app.pages.render(MessagePage(title: "Database error", text: text), session: session),
                status: .serviceUnavailable)
        }
    }
}

/// A request that changes something carries the session's CSRF token: the `X-CSRF-Token` header,
/// or else the `csrf` form field; else 403. The body is read for the field only when the header
/// is absent, and kept, so a handler can still read it. Behind `OwnerSessionMiddleware`.
struct CSRFMiddleware: RouterMiddleware {
    typealias Context = WebRequestContext
    let app: WebApp

    struct Field: Decodable {
        var csrf: String?
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let session = try context.owner()
        var request = request
        var token = request.headers[HTTPField.Name("X-CSRF-Token")!] ?? ""
        if token.isEmpty {
            var body = try await request.collectBody(upTo: 64 << 10)
            let text = body.readString(length: body.readableBytes) ?? ""
            token = (try? URLEncodedFormDecoder().decode(Field.self, from: text))?.csrf ?? ""
        }
        guard !token.isEmpty, constantTimeEqual(token, session.csrf) else {
            app.logger.warning(
                "Refused a request without a valid CSRF token.", metadata: ["path": "\(request.uri.path)"])
            return app.plain(.forbidden, "missing or wrong CSRF token; reload the page")
        }
        return try await next(request, context)
    }
}

/// Who may reach a group of the page's routes.
enum Access {
    /// Anyone: the login, the assets, a share link (its token is its own check).
    case anyone
    /// A page: an owner's session, else the login.
    case page
    /// A script's GET: an owner's session, else 401.
    case script
    /// Anything that changes something or is logged: a session and its CSRF token.
    case form
}

extension WebApp {
    /// A group in `routes` behind what `access` needs.
    func group(_ routes: RouteCollection<WebRequestContext>, _ access: Access) -> RouterGroup<WebRequestContext> {
        let group = routes.group()
        switch access {
        case .anyone: break
        case .page: group.add(middleware: OwnerSessionMiddleware(app: self, page: true))
        case .script: group.add(middleware: OwnerSessionMiddleware(app: self, page: false))
        case .form:
            group.add(middleware: OwnerSessionMiddleware(app: self, page: false))
            group.add(middleware: CSRFMiddleware(app: self))
        }
        return group
    }
}

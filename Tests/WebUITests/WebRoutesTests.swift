import DoorbellTestKit
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SyncModule
import SyncProtocol
import Testing

@testable import SyncStorage
@testable import WebUI

/// The owner's page's routes in-process, through Hummingbird's router test client (no socket,
/// no browser): who may reach what, the CSRF check, the security headers, and a database that
/// cannot be read. The browser tests (porchlightdTests) cover the page's script.
@Suite("The owner's page, routed in-process", .timeLimit(.minutes(5)))
struct WebRoutesTests {
    /// A sync module's page over a fresh store, and a session in it.
    struct Rig {
        let directory: TemporaryDirectory
        let store: SQLiteSyncStore
        let web: WebApp
        let cookie: String
        let csrf: String

        init() throws {
            directory = try TemporaryDirectory()
            store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
            let logger = Logger(label: "test.web")
            let media = try MediaFiles(directory: directory.path + "/media", maxBytes: 0)
            let api = SyncAPI(store: store, media: media, logger: logger)
            web = try WebApp(store: store, api: api, media: media, logger: logger, liveMax: .seconds(60))
            let token = "session-token-for-the-test"
            csrf = "csrf-token-for-the-test"
            try store.setOwner("sam", passwordHash: "not a bcrypt hash: no password opens it")
            try store.createSession(
                tokenHash: sha256Hex(Data(token.utf8)),
                OwnerSession(owner: "sam", csrf: csrf, expiresAt: unixMilliseconds() + 3_600_000))
            cookie = "porchlight_session=\(token)"
        }

        func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
            let router = Router(context: SyncRequestContext.self)
            web.install(router)
            try await Application(router: router).test(.router, body)
        }
    }

    @Test("without a session a page redirects to the login, a script's request and a form get 401")
    func noSession() async throws {
        let rig = try Rig()
        try await rig.test { client in
            for path in ["/", "/devices", "/access", "/keys", "/shares", "/live/d1", "/clip/d1/e1-clip"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .seeOther, "\(path)")
                    #expect(response.headers[.location] == "/login", "\(path)")
                }
            }
            for (path, method) in [
                ("/events/stream", HTTPRequest.Method.get), ("/media/d1/e1-snapshot", .get), ("/logout", .post),
                ("/keys", .post), ("/access.json", .post), ("/live/d1/start", .post), ("/shares/s1/revoke", .post),
            ] {
                try await client.execute(uri: path, method: method, headers: [.cookie: "porchlight_session=stale"]) {
                    response in
                    #expect(response.status == .unauthorized, "\(method) \(path)")
                    #expect(String(buffer: response.body).contains("log in first"), "\(path)")
                }
            }
        }
    }

    @Test("a form needs the session's CSRF token, in the header or the form; a page and a script's GET do not")
    func csrf() async throws {
        let rig = try Rig()
        let (cookie, csrf) = (rig.cookie, rig.csrf)
        try await rig.test { client in
            let form: HTTPFields = [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"]
            var wrong = form
            wrong[HTTPField.Name("X-CSRF-Token")!] = "not-the-token"
            var header = form
            header[HTTPField.Name("X-CSRF-Token")!] = csrf
            for (headers, body, status) in [
                (form, "", HTTPResponse.Status.forbidden), (wrong, "", .forbidden),
                (form, "csrf=not-the-token", .forbidden), (form, "csrf=\(csrf)", .seeOther),
                (header, "", .seeOther),
            ] {
                try await client.execute(
                    uri: "/shares/s1/revoke", method: .post, headers: headers, body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == status, "\(headers) \(body)")
                    if status == .forbidden {
                        #expect(String(buffer: response.body).contains("CSRF token"))
                    } else {
                        #expect(response.headers[.location] == "/shares")
                    }
                }
            }
            try await client.execute(uri: "/shares", method: .get, headers: [.cookie: cookie]) { response in
                #expect(response.status == .ok)
                // The page's own forms carry the token, from the session's scope.
                #expect(String(buffer: response.body).contains(#"<meta name="csrf-token" content="\#(csrf)">"#))
            }
        }
    }

    @Test("the form field is read without losing the body for the handler")
    func bodyKept() async throws {
        let rig = try Rig()
        let routes = RouteCollection(context: WebRequestContext.self)
        rig.web.group(routes, .form).post("/echo") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 1024)
            return String(buffer: body)
        }
        let router = Router(context: SyncRequestContext.self)
        router.group(context: WebRequestContext.self).addRoutes(routes)
        try await Application(router: router).test(.router) { client in
            try await client.execute(
                uri: "/echo", method: .post,
                headers: [.cookie: rig.cookie, .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "note=kept&csrf=\(rig.csrf)")
            ) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "note=kept&csrf=\(rig.csrf)")
            }
        }
    }

    @Test("every answer carries nosniff and no-referrer; a page also the content security policy and no-store")
    func securityHeaders() async throws {
        let rig = try Rig()
        let cookie = rig.cookie
        try await rig.test { client in
            for (path, headers) in [
                ("/login", HTTPFields()), ("/", [.cookie: cookie]), ("/share/no-such-token", HTTPFields()),
            ] {
                try await client.execute(uri: path, method: .get, headers: headers) { response in
                    #expect(response.headers[.contentType]?.hasPrefix("text/html") == true, "\(path)")
                    #expect(
                        response.headers[.contentSecurityPolicy]
                            == "default-src 'self'; img-src 'self' blob:; style-src 'self'; script-src 'self'; "
                            + "frame-ancestors 'none'; form-action 'self'", "\(path)")
                    #expect(response.headers[.cacheControl] == "no-store", "\(path)")
                    #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff", "\(path)")
                    #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer", "\(path)")
                }
            }
            for path in ["/static/app.js", "/static/app.css", "/events/stream"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff", "\(path)")
                    #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer", "\(path)")
                    #expect(response.headers[.contentSecurityPolicy] == nil, "\(path)")
                }
            }
            try await client.execute(uri: "/static/app.js", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "public, max-age=300")
            }
        }
    }

    @Test("the login page sets its form's token in a cookie; a wrong login and a token without its cookie are refused")
    func login() async throws {
        let rig = try Rig()
        try await rig.test { client in
            let token = try await client.execute(uri: "/login", method: .get) { response -> String in
                #expect(response.status == .ok)
                let cookie = response.headers[.setCookie] ?? ""
                #expect(cookie.hasPrefix("porchlight_login=") && cookie.contains("HttpOnly"))
                let token = String(cookie.dropFirst("porchlight_login=".count).prefix { $0 != ";" })
                #expect(String(buffer: response.body).contains(#"name="csrf" value="\#(token)""#))
                #expect(!String(buffer: response.body).contains("role=\"alert\""), "no message on a fresh form")
                return token
            }
            try await client.execute(
                uri: "/login", method: .post,
                headers: [.cookie: "porchlight_login=\(token)", .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "csrf=\(token)&name=nobody&password=wrong")
            ) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("Wrong name or password."))
            }
            try await client.execute(
                uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "csrf=\(token)&name=nobody&password=wrong")
            ) { response in
                #expect(response.status == .forbidden, "a token without its cookie")
            }
        }
    }

    @Test("an empty timeline says so; a database that cannot be read gets an error page, never an empty one")
    func databaseError() async throws {
        let rig = try Rig()
        let cookie = rig.cookie
        try await rig.test { client in
            try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie]) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("Nothing yet."))
            }
        }
        try rig.store.write { try $0.execute(sql: "ALTER TABLE event RENAME TO eventAway") }
        try rig.store.write { try $0.execute(sql: "ALTER TABLE media RENAME TO mediaAway") }
        try await rig.test { client in
            try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie]) { response in
                #expect(response.status == .serviceUnavailable)
                let page = String(buffer: response.body)
                #expect(page.contains("<title>Database error · Porchlight</title>"))
                #expect(!page.contains("Nothing yet."))
                #expect(response.headers[.contentSecurityPolicy] != nil)
            }
            try await client.execute(uri: "/media/d1/e1-snapshot", method: .get, headers: [.cookie: cookie]) {
                response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                #expect(String(buffer: response.body).contains("cannot read its database"))
            }
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SyncModule
import SyncStorage
import WebPush

extension WebApp {
    // MARK: The installable app and its notifications

    /// What anyone may fetch for the app to install and start offline: the manifest, its icons,
    /// the service worker and the offline page. None holds anything of the owner's.
    func appRoutes() -> RouteCollection<WebRequestContext> {
        let routes = RouteCollection(context: WebRequestContext.self)
        routes.get("/manifest.webmanifest") { _, _ in
            asset(Assets.manifest, type: "application/manifest+json; charset=utf-8")
        }
        // At the root, so that its scope is the whole page; checked for updates on every start.
        routes.get("/sw.js") { _, _ in
            var response = asset(Assets.serviceWorker, type: "text/javascript; charset=utf-8")
            response.headers[.cacheControl] = "no-cache"
            return response
        }
        routes.get("/static/icon.svg") { _, _ in asset(Assets.iconSVG, type: "image/svg+xml") }
        for (name, bytes) in Assets.iconPNGs {
            routes.get("/static/\(name)") { _, _ in
                Response(
                    status: .ok, headers: [.contentType: "image/png", .cacheControl: "public, max-age=86400"],
                    body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
            }
        }
        routes.get("/offline") { _, _ in
            html(pages.render(MessagePage(title: "Offline", text: Self.offlineText), session: nil))
        }
        return routes
    }

    static let offlineText =
        "This phone cannot reach your sync module just now. Rings still reach it as notifications once it "
        + "is back on a network that reaches the sync module's push service; the timeline opens again then."

    func notificationRoutes() -> RouteCollection<WebRequestContext> {
        let routes = RouteCollection(context: WebRequestContext.self)
        group(routes, .page).get("/notifications") { _, context in try notificationsPage(try context.owner()) }
        group(routes, .form).post("/push/subscriptions") { request, context in
            try await subscribe(request, try context.owner())
        }
        group(routes, .form).post("/push/subscriptions/:id/remove") { request, context in
            let id = context.parameters.get("id") ?? ""
            if (try? store.removePushSubscription(id)) == true {
                audit(try context.owner(), "push-remove", device: "", detail: id, request)
            }
            return redirect("/notifications")
        }
        group(routes, .form).post("/push/subscriptions/:id/test") { request, context in
            let id = context.parameters.get("id") ?? ""
            guard let push, let outcome = await push.sendTest(to: id) else {
                return plain(.notFound, "no such browser")
            }
            return json(Self.describe(outcome))
        }
        return routes
    }

    func notificationsPage(_ session: OwnerSession) throws -> Response {
        func time(_ ms: Int64?) -> String? {
            ms.map { Self.timeFormatter.string(from: Date(timeIntervalSince1970: Double($0) / 1000)) }
        }
        let browsers = try store.pushSubscriptions().map { record in
            NotificationsPage.Browser(
                id: record.id, label: record.label, kinds: Self.kinds(record),
                service: URL(string: record.endpoint)?.host ?? "?", lastDelivery: time(record.lastDeliveryAt),
                lastError: record.lastError, lastErrorAt: time(record.lastErrorAt))
        }
        let recovery = try store.ownerKeys().first { $0.label == "recovery" && $0.revokedAt == nil }
        let page = NotificationsPage(
            browsers: browsers, empty: browsers.isEmpty, publicKey: push?.publicKey ?? "",
            recoveryPoint: recovery?.publicKey)
        return html(pages.render(page, session: session))
    }

    static func kinds(_ record: PushSubscriptionRecord) -> String {
        var kinds: [String] = []
        if record.rings { kinds.append(record.duringQuiet ? "rings, also in quiet hours" : "rings") }
        if record.motion { kinds.append("motion") }
        return kinds.isEmpty ? "nothing" : kinds.joined(separator: ", ")
    }

    /// `PushSubscription.toJSON()` with the owner's choices for this browser.
    struct NewSubscription: Decodable {
        struct Keys: Decodable {
            var p256dh: String
            var auth: String
        }

        var label: String
        var endpoint: String
        var keys: Keys
        var rings: Bool
        var motion: Bool
        var duringQuiet: Bool
    }

    /// Stores a browser's subscription (replacing its earlier one); an access-log entry, since it
    /// decides where word of the door goes.
    func subscribe(_ request: Request, _ session: OwnerSession) async throws -> Response {
        var body = try await request.body.collect(upTo: 8 << 10)
        guard
            let new = try? JSONDecoder().decode(
                NewSubscription.self, from: body.readData(length: body.readableBytes) ?? Data())
        else {
            return plain(
                .badRequest,
                "expected {\"label\", \"endpoint\", \"keys\": {\"p256dh\", \"auth\"}, \"rings\", \"motion\", "
                    + "\"duringQuiet\"}")
        }
        do {
            let checked = try PushSubscription(
                endpoint: new.endpoint, p256dh: new.keys.p256dh, auth: new.keys.auth,
                allowHTTP: push?.allowHTTP ?? false)
            let record = try store.savePushSubscription(
                PushSubscriptionRecord(
                    id: String(Sessions.random().prefix(22)), owner: session.owner, label: new.label,
                    endpoint: checked.endpoint.absoluteString, p256dh: new.keys.p256dh, auth: new.keys.auth,
                    rings: new.rings, motion: new.motion, duringQuiet: new.duringQuiet, createdAt: now()))
            audit(
                session, "push-subscribe", device: "",
                detail: "\(record.label) via \(checked.endpoint.host ?? "?"): \(Self.kinds(record))", request)
            return json(["id": record.id])
        } catch let error as PushSubscription.Invalid {
            return plain(.badRequest, error.description)
        } catch let error as PushSubscriptionError {
            return plain(.badRequest, error.description)
        }
    }

    static func describe(_ outcome: PushOutcome) -> [String: String] {
        switch outcome {
        case .delivered(let status): ["result": "sent", "detail": "the push service took it (HTTP \(status))"]
        case .gone(let status):
            ["result": "gone", "detail": "the push service says this subscription ended (HTTP \(status)); removed"]
        case .retry(_, _, let reason): ["result": "failed", "detail": reason]
        case .refused(_, let reason): ["result": "failed", "detail": reason]
        }
    }
}

struct NotificationsPage: PageModel {
    static let template = "notifications"
    let title = "Notifications"
    var browsers: [Browser]
    var empty: Bool
    /// The VAPID public key, the browser's `applicationServerKey`.
    var publicKey: String
    /// The recovery key's point, which signs this browser's notification key.
    var recoveryPoint: String?

    struct Browser {
        var id: String
        var label: String
        var kinds: String
        var service: String
        var lastDelivery: String?
        var lastError: String?
        var lastErrorAt: String?
    }
}

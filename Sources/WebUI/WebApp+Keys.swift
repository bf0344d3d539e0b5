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
    // MARK: Owner keys

    func keyRoutes() -> RouteCollection<WebRequestContext> {
        let routes = RouteCollection(context: WebRequestContext.self)
        group(routes, .page).get("/keys") { request, context in try keysPage(try context.owner(), request) }
        group(routes, .form).post("/keys") { request, context in try await addKey(request, try context.owner()) }
        group(routes, .form).post("/keys/:id/revoke") { request, context in
            revokeKey(request, try context.owner(), id: context.parameters.get("id") ?? "")
        }
        return routes
    }

    func keysPage(_ session: OwnerSession, _ request: Request) throws -> Response {
        let records = try store.ownerKeys()
        let keys = records.map { key in
            KeysPage.Key(
                id: key.id, label: key.role == .notification ? "\(key.label) (notifications only)" : key.label,
                revoked: key.revokedAt != nil,
                created: Self.timeFormatter.string(from: Date(timeIntervalSince1970: Double(key.createdAt) / 1000)))
        }
        let recovery = records.first { $0.label == "recovery" && $0.revokedAt == nil }
        let page = KeysPage(
            keys: keys, empty: records.allSatisfy { $0.revokedAt != nil },
            first: request.uri.queryParameters.get("first") != nil && recovery == nil,
            hasRecovery: recovery != nil ? "true" : "false", recoveryPoint: recovery?.publicKey.nonEmpty,
            recoveryFingerprint: recovery.map { OwnerPublicKey.fingerprint(ofID: $0.id) })
        return html(pages.render(page, session: session))
    }

    struct NewKey: Decodable {
        var label: String
        var publicKey: String
        /// The recovery key's signature over it; every key but the recovery key needs one once a
        /// recovery key exists.
        var signature: String?
        /// `notification` for a browser's notification key (docs/notifications.md); else an owner key.
        var role: String?
    }

    /// Registers a public key the page made (JSON `{label, publicKey}`) and sends the new list to
    /// every doorbell.
    func addKey(_ request: Request, _ session: OwnerSession) async throws -> Response {
        var body = try await request.body.collect(upTo: 16 << 10)
        guard
            let key = try? JSONDecoder().decode(NewKey.self, from: body.readData(length: body.readableBytes) ?? Data())
        else { return plain(.badRequest, "expected {\"label\", \"publicKey\"}") }
        guard let role = key.role.map({ OwnerKeyRole(rawValue: $0) }) ?? .owner else {
            return plain(.badRequest, "role: \"owner\" or \"notification\"")
        }
        do {
            let record = try store.addOwnerKey(
                owner: session.owner, label: key.label, publicKey: key.publicKey, signature: key.signature,
                role: role, now: now())
            audit(
                session, "key-add", device: "",
                detail:
                    "\(record.label) (\(record.id))\(role == .notification ? ", notification thumbnails only" : "")",
                request)
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
}

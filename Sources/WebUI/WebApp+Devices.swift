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
    // MARK: Devices and the access log

    func deviceRoutes() -> RouteCollection<WebRequestContext> {
        let routes = RouteCollection(context: WebRequestContext.self)
        group(routes, .page).get("/devices") { _, context in try devicesPage(try context.owner()) }
        group(routes, .page).get("/access") { _, context in try accessPage(try context.owner()) }
        group(routes, .form).post("/access.json") { request, context in
            try accessExport(request, try context.owner())
        }
        return routes
    }

    func devicesPage(_ session: OwnerSession) throws -> Response {
        let online = api.control.connected
        let devices = try store.devices().map { device in
            let report = api.control.report(of: device.id)?.report
            return DevicesPage.Device(
                id: device.id, name: device.name, online: online.contains(device.id), revoked: device.revokedAt != nil,
                lastSeen: device.lastSeenAt.map {
                    Self.timeFormatter.string(from: Date(timeIntervalSince1970: Double($0) / 1000))
                } ?? "never",
                status: report?.status ?? "", backlog: report.map { String($0.backlog) } ?? "",
                version: report?.version ?? "", camera: report?.camera ?? "")
        }
        return html(pages.render(DevicesPage(devices: devices, empty: devices.isEmpty), session: session))
    }

    /// The sync module's log and its copy of each doorbell's, merged newest first, with what the
    /// verifier says about each. The page is the sync module's word; `porchlightctl audit verify`
    /// on a doorbell checks it against the doorbell's own copies.
    func accessPage(_ session: OwnerSession) throws -> Response {
        let devices = try store.devices()
        let names = Dictionary(devices.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        let export = try store.accessExport(devices: devices.map(\.id))
        var logs: [AccessPage.Verification] = [
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
        let rows = all.prefix(300).map { entry in
            AccessPage.Row(
                time: Self.timeFormatter.string(from: Date(timeIntervalSince1970: Double(entry.at) / 1000)),
                log: entry.log == "sync" ? "sync module" : names[entry.log] ?? entry.log,
                sequence: entry.sequence, actor: entry.actor, action: entry.action,
                device: names[entry.device] ?? entry.device, detail: entry.detail, source: entry.source)
        }
        let page = AccessPage(
            rows: rows, logs: logs, fingerprint: AccessSigner.fingerprint(of: store.accessPublicKey))
        return html(pages.render(page, session: session))
    }

    static func verification(
        _ name: String, _ records: [AccessRecord], _ findings: [AccessFinding]
    ) -> AccessPage.Verification {
        AccessPage.Verification(
            name: name, count: records.count, intact: findings.isEmpty, findings: findings.map(\.description))
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
}

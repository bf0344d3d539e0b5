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

extension WebApp {
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
}

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SyncProtocol

/// `porchlightctl audit verify` (docs/privacy.md, "Access log"): each copy of each log is checked
/// on its own, then the copies are compared, so that the doorbell catches a sync module that edits,
/// hides or reorders entries, and the sync module's copy catches a doorbell file that was edited.
public struct AccessAudit: Sendable {
    /// One checked copy: what it is, how many entries, what is wrong, and remarks that are not faults.
    public struct Section: Sendable, Equatable {
        public var title: String
        public var count: Int
        public var findings: [String]
        public var notes: [String]
    }

    public var sections: [Section] = []
    public var passed: Bool { sections.allSatisfy { $0.findings.isEmpty } }

    /// `own` and `mirror` are the doorbell's files; `export` is the sync module's answer (nil when
    /// it was not asked).
    public init(
        deviceID: String, devicePublicKey: Data, own: [AccessRecord], mirror: [AccessRecord], pinnedSyncKey: Data?,
        export: AccessLogExport?
    ) {
        let ownFindings = AccessLogVerifier.verify(own, log: deviceID, publicKey: devicePublicKey)
        var ownSection = Section(
            title: "This doorbell's log", count: own.count, findings: ownFindings.map(\.description), notes: [])
        var mirrorSection = Section(
            title: "The sync module's log, as mirrored here", count: mirror.count, findings: [], notes: [])
        if let pinnedSyncKey {
            mirrorSection.findings = AccessLogVerifier.verify(mirror, log: "sync", publicKey: pinnedSyncKey).map(
                \.description)
            mirrorSection.notes.append("signed by the sync module's key \(AccessSigner.fingerprint(of: pinnedSyncKey))")
        } else if !mirror.isEmpty {
            mirrorSection.findings.append("no sync module key is pinned, so the mirror cannot be checked")
        }
        guard let export else {
            sections = [ownSection, mirrorSection]
            return
        }
        // The sync module's own log as it serves it now, against the key pinned when it first
        // connected and against the entries it sent earlier.
        let servedKey = Data(base64Encoded: export.syncKey) ?? Data()
        var served = Section(
            title: "The sync module's log, as it serves it now", count: export.sync.count, findings: [], notes: [])
        if let pinnedSyncKey, pinnedSyncKey != servedKey {
            served.findings.append(
                "it is signed with another key (\(AccessSigner.fingerprint(of: servedKey))) than the one pinned")
        }
        served.findings += AccessLogVerifier.verify(export.sync, log: "sync", publicKey: pinnedSyncKey ?? servedKey)
            .map(\.description)
        // What the doorbell already received, the sync module cannot lack.
        let againstMirror = AccessLogVerifier.compare(
            reference: mirror, other: export.sync, otherName: "the log the sync module serves now", otherMayLag: false)
        served.findings += againstMirror.findings.map(\.description)
        let newer = AccessLogVerifier.compare(reference: export.sync, other: mirror, otherName: "the mirror here")
        mirrorSection.findings += newer.findings.map(\.description)
        if newer.unmirrored > 0 { served.notes.append("\(newer.unmirrored) newer entries not mirrored here yet") }

        // The sync module's copy of this doorbell's log, against the doorbell's own.
        let copy = export.devices[deviceID] ?? []
        var copySection = Section(
            title: "The sync module's copy of this doorbell's log", count: copy.count,
            findings: AccessLogVerifier.verify(copy, log: deviceID, publicKey: devicePublicKey).map(\.description),
            notes: [])
        let hidden = AccessLogVerifier.compare(reference: own, other: copy, otherName: "the sync module's copy")
        copySection.findings += hidden.findings.map(\.description)
        if hidden.unmirrored > 0 { copySection.notes.append("\(hidden.unmirrored) newer entries not sent yet") }
        // What the sync module received from this doorbell, the doorbell's log cannot lack.
        ownSection.findings += AccessLogVerifier.compare(
            reference: copy, other: own, otherName: "this doorbell's log", otherMayLag: false
        ).findings.map(\.description)
        sections = [ownSection, mirrorSection, served, copySection]
    }

    /// Asks the sync module for its log and its copy of this doorbell's (a signed request over the
    /// pinned certificate).
    public static func fetch(pairing: PairingRecord, identity: DeviceIdentity) async throws -> AccessLogExport {
        let client = try UplinkService.client(pinning: pairing.certificatePEM)
        do {
            let export = try await fetch(client, identity: identity, base: pairing.url)
            try? await client.shutdown()
            return export
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    static func fetch(_ client: HTTPClient, identity: DeviceIdentity, base: String) async throws -> AccessLogExport {
        let request = try identity.request(to: base, .GET, accessLogPath)
        let response = try await client.execute(request, timeout: .seconds(30))
        var buffer = try await response.body.collect(upTo: 64 << 20)
        let body = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        guard response.status == .ok else {
            throw AuditFetchError(status: Int(response.status.code), reason: String(decoding: body, as: UTF8.self))
        }
        return try JSONDecoder().decode(AccessLogExport.self, from: body)
    }
}

public struct AuditFetchError: Error, CustomStringConvertible {
    public var status: Int
    public var reason: String
    public var description: String { "the sync module answered \(status): \(reason)" }
}

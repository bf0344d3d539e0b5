import DoorbellCore
import Foundation
import Logging
import ServiceLifecycle
import SyncProtocol
import Uplink

/// The link to the sync module: waits until the doorbell is paired (`porchlightctl pair` writes
/// the record while the daemon runs, so no restart is needed), then runs the uplink and the
/// control channel. Until then events wait in the outbox and STATUS says how to pair.
struct SyncLink: Service {
    let state: String
    let health: HealthReporter
    let logger: Logger
    let accessLog: DoorbellAccessLog
    let makeServices: @Sendable (PairingRecord, DeviceIdentity, HealthReporter) -> [any Service]

    func run() async throws {
        var told = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if let (pairing, identity) = try PairingRecord.load(from: state) {
                    logger.notice("Paired; connecting to the sync module.", metadata: ["url": "\(pairing.url)"])
                    recordPairing(pairing)
                    // A group of its own, so that each service gets its own graceful shutdown.
                    let group = ServiceGroup(
                        configuration: .init(services: makeServices(pairing, identity, health), logger: logger))
                    try await withGracefulShutdownHandler {
                        try await group.run()
                    } onGracefulShutdown: {
                        Task { await group.triggerGracefulShutdown() }
                    }
                    return
                }
                if !told {
                    logger.notice(
                        "Not paired with a sync module; events wait in the outbox. Pair with `porchlightctl pair`.")
                    told = true
                }
            } catch {
                logger.error("Cannot read the pairing record.", metadata: [LogKey.error: "\(error)"])
            }
            health.checkIn(.degraded("not paired"))
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(2)) }
        }
    }
}

extension SyncLink {
    /// A pairing the access log does not have yet (`porchlightctl pair` writes the record; the
    /// daemon signs the entry, the first time it sees that module and certificate).
    func recordPairing(_ pairing: PairingRecord) {
        let detail = "\(pairing.url), certificate \(pairing.fingerprint)"
        let known = DoorbellAccessLog.read(accessLog.ownPath, log: accessLog.deviceID).last { $0.action == "pairing" }
        guard known?.detail != detail else { return }
        accessLog.record(
            "Paired with a sync module.",
            AccessNote("pairing", actor: "local", detail: detail, source: "porchlightctl pair"))
    }
}

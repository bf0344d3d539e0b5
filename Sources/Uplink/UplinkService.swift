import AsyncHTTPClient
import DoorbellCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import SyncProtocol

/// Drains the outbox to the sync module: signed batches in outbox order over HTTPS with the
/// pinned certificate, retried with exponential backoff and full jitter. An event counts as sent
/// only when the sync module has acknowledged its key. Health says connected, backing off,
/// unauthorised, or revoked by the owner (then the doorbell keeps recording locally).
public struct UplinkService: Service {
    let outbox: Outbox
    let pairing: PairingRecord
    let identity: DeviceIdentity
    let health: HealthReporter
    let logger: Logger
    let faults: FaultLimiter
    let retry: ClosedRange<Duration>

    public init(
        outbox: Outbox, pairing: PairingRecord, identity: DeviceIdentity, health: HealthReporter, logger: Logger,
        faults: FaultLimiter, retry: ClosedRange<Duration>
    ) {
        self.outbox = outbox
        self.pairing = pairing
        self.identity = identity
        self.health = health
        self.logger = logger
        self.faults = faults
        self.retry = retry
    }

    enum Outcome {
        case sent
        case idle
        case failed(String, HealthState)
    }

    public func run() async throws {
        let client = try Self.client(pinning: pairing.certificatePEM)
        await loop(client)
        try? await client.shutdown()
    }

    private func loop(_ client: HTTPClient) async {
        var backoff = retry.lowerBound
        var generator = SystemRandomNumberGenerator()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            switch await sendBatch(client) {
            case .sent:
                backoff = retry.lowerBound
                // Keep a day of delivered events for `porchlightctl` and debugging, not forever.
                do {
                    try outbox.pruneDelivered(olderThan: .seconds(86_400))
                } catch {
                    logger.fault(
                        "Cannot prune the outbox.", key: "outbox.prune", limiter: faults,
                        metadata: [LogKey.error: "\(error)"])
                }
                faults.clear("uplink")
                health.checkIn(.ok)
            case .idle:
                health.checkIn(.ok)
                // Sleep until something is appended, checking in at least every second.
                await outbox.appended.wait(upTo: .seconds(1))
            case .failed(let reason, let state):
                health.checkIn(state)
                logger.fault(
                    "Cannot reach the sync module; backing off.", key: "uplink", limiter: faults,
                    metadata: [LogKey.reason: "\(reason)"])
                // Full jitter: a random wait up to the current bound.
                let bound = backoff / .milliseconds(1)
                let wait = Duration.milliseconds(
                    Int64.random(in: Int64(bound / 2)...Int64(max(bound, 1)), using: &generator))
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                backoff = min(backoff * 2, retry.upperBound)
            }
        }
    }

    /// Sends the oldest pending events; marks the acknowledged ones delivered.
    func sendBatch(_ client: HTTPClient) async -> Outcome {
        let pending: [Outbox.Pending]
        do {
            pending = try outbox.pending(limit: 100)
        } catch {
            return .failed("cannot read the outbox: \(error)", .degraded("outbox unreadable"))
        }
        guard !pending.isEmpty else { return .idle }
        do {
            let body = try JSONEncoder().encode(["events": pending.map(\.event)])
            let path = "/v1/events"
            var request = HTTPClientRequest(url: pairing.url + path)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Porchlight-Protocol", value: "\(protocolVersion)")
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for (name, value) in try identity.sign(method: "POST", path: path, body: body, now: now) {
                request.headers.add(name: name, value: value)
            }
            request.body = .bytes(ByteBuffer(bytes: body))
            // AsyncHTTPClient keeps retrying a refused connection until this deadline.
            let response = try await client.execute(request, timeout: .seconds(5))
            var buffer = try await response.body.collect(upTo: 1 << 20)
            let data = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
            switch response.status.code {
            case 200:
                let reply = try JSONDecoder().decode([String: [String]].self, from: data)
                try outbox.markDelivered(keys: reply["accepted"] ?? [])
                return .sent
            case 403:
                return .failed("refused: \(String(decoding: data, as: UTF8.self))", .degraded("revoked by the owner"))
            case 401:
                return .failed("unauthorised: \(String(decoding: data, as: UTF8.self))", .degraded("unauthorised"))
            default:
                return .failed("HTTP \(response.status.code)", .degraded("sync module refusing; backing off"))
            }
        } catch {
            return .failed("\(error)", .degraded("sync module unreachable; backing off"))
        }
    }

    /// An HTTPS client that trusts the pinned certificate and nothing else.
    public static func client(pinning certificatePEM: String) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem)])
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout.connect = .seconds(2)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

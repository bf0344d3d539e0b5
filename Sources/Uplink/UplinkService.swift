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
/// pinned certificate, retried with exponential backoff and jitter. An event counts as sent
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
    let media: MediaUploader?
    /// What the backoffs sleep on; tests pass a `TestClock`.
    let clock: any Clock<Duration>

    public init(
        outbox: Outbox, media: (any MediaQueue)? = nil, pairing: PairingRecord, identity: DeviceIdentity,
        health: HealthReporter, logger: Logger, faults: FaultLimiter, retry: ClosedRange<Duration>,
        chunkSize: Int = 1 << 20, clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.clock = clock
        self.outbox = outbox
        self.pairing = pairing
        self.identity = identity
        self.health = health
        self.logger = logger
        self.faults = faults
        self.retry = retry
        self.media = media.map {
            MediaUploader(queue: $0, pairing: pairing, identity: identity, logger: logger, chunkSize: chunkSize)
        }
    }

    enum Outcome: Sendable {
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
        var events = Backoff(retry)
        var media = Backoff(retry)
        // While media backs off (a full disk at the sync module), events still go at once.
        let elapsed = clock.stopwatch()
        var mediaRetry: (at: Duration, state: HealthState)?
        var upload: MediaUploader.Upload?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // A request in flight is abandoned at shutdown rather than waited for: what it carried
            // stays in the outbox, unacknowledged, and goes again (once, by key) at the next start.
            let outcome = await cancelWhenGracefulShutdown { await sendBatch(client) }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            switch outcome {
            case .sent:
                events.reset()
                delivered()
                health.checkIn(mediaRetry?.state ?? .ok)
                continue
            case .failed(let reason, let state):
                report(reason, state)
                let wait = events.next()
                try? await cancelWhenGracefulShutdown { try await clock.sleep(for: wait) }
                continue
            case .idle:
                break
            }
            var pause = Duration.seconds(1)
            if let uploader = self.media {
                if let retry = mediaRetry, retry.at > elapsed() {
                    pause = min(pause, retry.at - elapsed())
                } else {
                    let current = upload
                    let (outcome, next) = await cancelWhenGracefulShutdown {
                        var step = current
                        return (await uploader.step(client, &step), step)
                    }
                    if Task.isShuttingDownGracefully || Task.isCancelled { break }
                    upload = next
                    switch outcome {
                    case .sent:
                        media.reset()
                        mediaRetry = nil
                        faults.clear("uplink")
                        health.checkIn(.ok)
                        continue
                    case .failed(let reason, let state):
                        report(reason, state)
                        let wait = media.next()
                        mediaRetry = (elapsed() + wait, state)
                        pause = min(pause, wait)
                    case .idle:
                        mediaRetry = nil
                    }
                }
            }
            health.checkIn(mediaRetry?.state ?? .ok)
            // Sleep until an event is appended or media may go again, checking in every second.
            try? await cancelWhenGracefulShutdown { [pause] in await outbox.appended.wait(upTo: pause, on: clock) }
        }
    }

    private func delivered() {
        // Keep a day of delivered events for `porchlightctl` and debugging, not forever.
        do {
            try outbox.pruneDelivered(olderThan: .seconds(86_400))
        } catch {
            logger.fault(
                "Cannot prune the outbox.", key: "outbox.prune", limiter: faults, metadata: [LogKey.error: "\(error)"])
        }
        faults.clear("uplink")
    }

    private func report(_ reason: String, _ state: HealthState) {
        health.checkIn(state)
        logger.fault(
            "Cannot reach the sync module; backing off.", key: "uplink", limiter: faults,
            metadata: [LogKey.reason: "\(reason)"])
    }

    /// Exponential backoff with jitter: each wait is random between half and all of a bound that
    /// doubles up to the maximum, so that doorbells do not retry in step after an outage.
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
            let request = try identity.request(
                to: pairing.url, .POST, path, body: body, contentType: "application/json")
            // AsyncHTTPClient keeps retrying a refused connection until this deadline.
            let response = try await client.execute(request, timeout: .seconds(5))
            var buffer = try await response.body.collect(upTo: 1 << 20)
            let data = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
            switch response.status.code {
            case 200:
                let reply = try JSONDecoder().decode([String: [String]].self, from: data)
                try outbox.markDelivered(keys: reply["accepted"] ?? [])
                return .sent
            default:
                return Self.failure(Int(response.status.code), data)
            }
        } catch {
            return .failed("\(error)", .degraded("sync module unreachable; backing off"))
        }
    }

    /// What a refusal means for the link's health (docs/protocol.md, Errors and retries).
    static func failure(_ status: Int, _ body: Data) -> Outcome {
        let reason = String(decoding: body, as: UTF8.self)
        return switch status {
        case 403: .failed("refused: \(reason)", .degraded("revoked by the owner"))
        case 401: .failed("unauthorised: \(reason)", .degraded("unauthorised"))
        case 507: .failed("HTTP 507: \(reason)", .degraded("sync module's storage full; backing off"))
        default: .failed("HTTP \(status): \(reason)", .degraded("sync module refusing; backing off"))
        }
    }

    /// An HTTPS client that trusts the pinned certificate and nothing else.
    public static func client(pinning certificatePEM: String) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem)])
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout.connect = .seconds(2)
        // A reply that stalls part-way (a stopped peer, a middlebox) fails instead of holding the
        // uplink forever: the request deadline covers only the head.
        configuration.timeout.read = .seconds(30)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }
}

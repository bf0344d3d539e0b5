import DoorbellCore
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOSSL
import Privacy
import ServiceLifecycle
import Synchronization
import SyncProtocol

/// The doorbell's end of the control channel: a WebSocket it opens to the sync module (so the
/// doorbell needs no open port), signed like every request and pinned to the paired certificate.
/// The sync module's heartbeat every 15 s keeps it honest: a channel silent for three of them is
/// closed. When it drops, it reconnects with backoff. Commands are answered by `RemoteCommands`.
public struct ControlChannelService: Service {
    let pairing: PairingRecord
    let identity: DeviceIdentity
    let commands: RemoteCommands
    let health: HealthReporter
    let logger: Logger
    let faults: FaultLimiter
    let retry: ClosedRange<Duration>
    /// How long the sync module may say nothing before the channel is closed as dead: three of
    /// its heartbeats.
    let silence: Duration
    /// The access log to mirror both ways over the channel.
    let accessLog: DoorbellAccessLog?
    /// The doorbell's status report, sent when the channel opens and every 15 s.
    let report: @Sendable () -> StatusReport

    public init(
        pairing: PairingRecord, identity: DeviceIdentity, commands: RemoteCommands, health: HealthReporter,
        logger: Logger, faults: FaultLimiter, retry: ClosedRange<Duration>, accessLog: DoorbellAccessLog? = nil,
        silence: Duration = ControlMessage.heartbeatInterval * 3,
        report: @escaping @Sendable () -> StatusReport = {
            StatusReport(status: "", backlog: 0, version: "", camera: "")
        }
    ) {
        self.silence = silence
        self.report = report
        self.accessLog = accessLog
        self.pairing = pairing
        self.identity = identity
        self.commands = commands
        self.health = health
        self.logger = logger
        self.faults = faults
        self.retry = retry
    }

    /// The channel has nothing to flush, so shutdown does not wait for it: the WebSocket client
    /// can take its close timeout (or longer) to notice, and the daemon promises to stop within
    /// 5 s. The loop is cancelled and closes the socket politely on its own time.
    public func run() async throws {
        let loop = Task { try await connectLoop() }
        defer { loop.cancel() }
        try? await gracefulShutdown()
    }

    private func connectLoop() async throws {
        var backoff = Backoff(retry)
        let url = "wss" + pairing.url.dropFirst("https".count) + controlPath
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(pairing.certificatePEM.utf8), format: .pem)])
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let opened = Atomic<Bool>(false)
            do {
                var signed: HTTPFields = [HTTPField.Name("Porchlight-Protocol")!: "\(protocolVersion)"]
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                for (name, value) in try identity.sign(method: "GET", path: controlPath, body: Data(), now: now) {
                    if let field = HTTPField.Name(name) { signed[field] = value }
                }
                // No WebSocket pings from this end (see `ControlMessage.heartbeat`): the sync
                // module's reader would write each pong, and stop reading while it cannot.
                let configuration = WebSocketClientConfiguration(
                    maxFrameSize: 1 << 20, additionalHeaders: signed, closeTimeout: .seconds(1), autoPing: .disabled)
                // The client does not end on task cancellation while the channel is open, so
                // shutdown closes the channel itself, whichever of the two comes first.
                let state = Mutex<(writer: WebSocketOutboundWriter?, stopping: Bool)>((nil, false))
                try await withGracefulShutdownHandler {
                    try await WebSocketClient.connect(
                        url: url, configuration: configuration, tlsConfiguration: tls, logger: logger
                    ) { inbound, outbound, _ in
                        let stopping = state.withLock { state in
                            state.writer = outbound
                            return state.stopping
                        }
                        if stopping {
                            try await outbound.close(.goingAway, reason: "the doorbell is shutting down")
                            return
                        }
                        opened.store(true, ordering: .relaxed)
                        faults.clear("control")
                        logger.notice("Control channel open.")
                        try await serve(inbound, outbound)
                    }
                } onGracefulShutdown: {
                    let writer = state.withLock { state in
                        state.stopping = true
                        return state.writer
                    }
                    guard let writer else { return }
                    Task { try? await writer.close(.goingAway, reason: "the doorbell is shutting down") }
                }
                if opened.load(ordering: .relaxed) {
                    logger.notice("Control channel closed; reconnecting.")
                } else {
                    logger.fault(
                        "The sync module refused the control channel; retrying.", key: "control", limiter: faults)
                }
            } catch {
                logger.fault(
                    "Control channel failed; reconnecting.", key: "control", limiter: faults,
                    metadata: [LogKey.error: "\(error)"])
            }
            commands.channelClosed()
            health.checkIn(.degraded("control channel down; reconnecting"))
            // A channel that was open reconnects promptly; one that never opened backs off.
            if opened.load(ordering: .relaxed) { backoff.reset() }
            let wait = backoff.next()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
        }
    }

    /// Reads commands until the channel closes, answering each on its own task, and checks in
    /// every second meanwhile. Each second also sends the access-log entries the sync module
    /// lacks, once it has said which it has.
    /// Where the control channel's blocking file work runs (see ``ThreadExecutor``).
    static let fileExecutor = ThreadExecutor(name: "porchlight-files")

    private func serve(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter) async throws {
        let sender = ControlSender(outbound)
        let peerHas = MirrorPosition()
        let lastHeard = LastHeard()
        if let accessLog { try await sender.send(.accessHello(have: accessLog.mirroredSequence)) }
        // The sync module's access records are checked and appended (with an fsync each) in order
        // on a thread of their own: on the reader's pool thread, an fsync that waits for a clip's
        // writeback held back every message behind it, the owner's voice included.
        let (mirrored, mirror) = AsyncStream.makeStream(of: [AccessRecord].self)
        defer { mirror.finish() }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            if let accessLog {
                tasks.addTask(executorPreference: Self.fileExecutor) {
                    for await records in mirrored { accessLog.receiveMirror(records) }
                }
            }
            tasks.addTask {
                var tick = 0
                while !Task.isCancelled {
                    let silence = ContinuousClock.now - lastHeard.value.withLock { $0 }
                    if silence > self.silence {
                        logger.warning(
                            "The sync module went silent on the control channel; closing it.",
                            metadata: ["silent_s": "\(silence / .seconds(1))"])
                        try await outbound.close(.goingAway, reason: "no heartbeat")
                        return
                    }
                    health.checkIn(commands.refusalNotice.map { .degraded($0) } ?? .ok)
                    if let accessLog, let has = peerHas.value.withLock({ $0 }), accessLog.lastSequence > has {
                        let batch = accessLog.records(after: has, limit: 100)
                        if let last = batch.last {
                            try await sender.send(.accessRecords(batch))
                            peerHas.value.withLock { $0 = last.sequence }
                        }
                    }
                    if tick % 15 == 0 { try await sender.send(.status(report())) }
                    tick += 1
                    try await Task.sleep(for: .seconds(1))
                }
            }
            for try await message in inbound.messages(maxSize: 1 << 20) {
                lastHeard.value.withLock { $0 = .now }
                if case .binary(var buffer) = message {
                    // Talk audio from the owner; nothing else comes down as binary.
                    if buffer.readInteger(as: UInt8.self) == ControlStream.talkAudio.rawValue {
                        commands.receiveTalk(buffer.readableBytesView)
                    }
                    continue
                }
                // Text is commands, key lists and access records: 256 KiB is far more than any.
                guard case .text(let text) = message, text.utf8.count <= 256 << 10 else {
                    logger.warning("Ignoring a malformed control message.")
                    continue
                }
                guard let message = try? JSONDecoder().decode(ControlMessage.self, from: Data(text.utf8)) else {
                    // A command this doorbell does not know (a newer sync module) still gets an
                    // answer, so that the owner hears why rather than waiting for a timeout.
                    if let unknown = try? JSONDecoder().decode(UnknownCommand.self, from: Data(text.utf8)),
                        unknown.type == ControlKind.command.rawValue, unknown.id.utf8.count <= 128
                    {
                        try? await sender.send(
                            .result(.result(for: unknown.id, ok: false, reason: "not a command this doorbell knows")))
                    } else {
                        logger.warning("Ignoring a malformed control message.")
                    }
                    continue
                }
                let command: ControlCommand
                switch message {
                case .heartbeat: continue
                case .ownerKeys(let keys):
                    commands.ownerKeysChanged(keys)
                    continue
                case .accessHello(let hello):
                    guard let accessLog else { continue }
                    if let key = hello.accessKey.flatMap({ Data(base64Encoded: $0) }), !accessLog.pin(syncKey: key) {
                        logger.error(
                            "The sync module's access-log key is not the one pinned; its log is not mirrored here.",
                            metadata: ["fingerprint": "\(AccessSigner.fingerprint(of: key))"])
                    }
                    peerHas.value.withLock { $0 = hello.have }
                    continue
                case .accessRecords(let records):
                    mirror.yield(records)
                    continue
                case .command(let received): command = received
                case .result, .status, .talkEnded:
                    logger.warning(
                        "Ignoring a control message only a doorbell sends.",
                        metadata: ["type": "\(message.kind.rawValue)"])
                    continue
                }
                tasks.addTask {
                    let result = await commands.handle(command, sender: sender)
                    try? await sender.send(.result(result))
                }
            }
            tasks.cancelAll()
        }
    }
}

/// When the channel last carried a message from the sync module.
final class LastHeard: Sendable {
    let value = Mutex(ContinuousClock.now)
}

/// How far the sync module has the doorbell's access log (nil until it says).
final class MirrorPosition: Sendable {
    let value = Mutex<Int64?>(nil)
}

/// Writes on the control channel: results as JSON text, frames as tagged binary messages.
public struct ControlSender: Sendable {
    let outbound: WebSocketOutboundWriter

    init(_ outbound: WebSocketOutboundWriter) {
        self.outbound = outbound
    }

    func send(_ message: ControlMessage) async throws {
        try await outbound.write(.text(String(decoding: try JSONEncoder().encode(message), as: UTF8.self)))
    }

    func send(_ stream: ControlStream, _ bytes: [UInt8]) async throws {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(bytes.count + 1)
        buffer.writeInteger(stream.rawValue)
        buffer.writeBytes(bytes)
        try await outbound.write(.binary(buffer))
    }
}

/// Just enough of a control message to answer a command this doorbell cannot decode.
private struct UnknownCommand: Decodable {
    var type: String
    var id: String
}

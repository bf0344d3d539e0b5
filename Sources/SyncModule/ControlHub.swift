// About 400 lines: one hub, whose reader loop handles every message kind a doorbell may send,
// with its bound (text size, record count, append rate) beside it.

import Foundation
import HummingbirdWebSocket
import Logging
import NIOCore
import Privacy
import Synchronization
import SyncProtocol
import SyncStorage

/// The doorbells' control channels as the sync module holds them: one WebSocket per device,
/// opened by the doorbell. Sends commands and waits for their results; fans live-view frames out
/// to whoever watches. A newer channel from a device replaces its older one.
public final class ControlHub: Sendable {
    struct Connection {
        let serial: Int
        let outbound: WebSocketOutboundWriter
    }

    private let connections = Mutex<[String: Connection]>([:])
    /// Commands waiting for their results, by device and command id: a result counts only from
    /// the doorbell the command went to.
    private let waiting = Mutex<[Waiter: CheckedContinuation<ControlResult, Never>]>([:])
    struct Waiter: Hashable {
        let device: String
        let id: String
    }
    private let nextSerial = Atomic<Int>(0)
    /// What doorbells send that is refused, logged once per 10 s at most, whatever they send.
    private let unsealedPictures = RefusalLog()
    private let refusedRecords = RefusalLog()
    /// Malformed text and kinds only the sync module sends: at most one line per 10 s.
    private let ignoredMessages = RefusalLog()
    private let viewers = Mutex<[String: [Int: AsyncStream<Data>.Continuation]]>([:])
    private let reports = Mutex<[String: (report: StatusReport, at: Date)]>([:])
    /// The talk session of each device that has one: its id, and where the door's audio goes.
    private let talkers = Mutex<[String: (session: String, door: AsyncStream<Data>.Continuation)]>([:])
    private let logger: Logger
    /// The owner's current keys, sent to each doorbell when its channel opens; nil when the key
    /// store cannot be read, and then nothing is sent (an empty list would tell doorbells to seal
    /// for no one), so each doorbell keeps the keys it has.
    private let ownerKeys: @Sendable () -> [OwnerKeyWire]?

    /// The access logs, mirrored with each doorbell over its channel.
    private let accessLog: (any AccessLogStore)?

    /// Takes the talk key in a doorbell's status report, to pin it (`TalkKeyStore`).
    private let talkKeyReported: @Sendable (_ device: String, _ report: StatusReport) -> Void
    private let talkRefusals = RefusalLog()

    public init(
        logger: Logger, accessLog: (any AccessLogStore)? = nil,
        talkKeyReported: @escaping @Sendable (String, StatusReport) -> Void = { _, _ in },
        ownerKeys: @escaping @Sendable () -> [OwnerKeyWire]? = { [] }
    ) {
        self.logger = logger
        self.accessLog = accessLog
        self.ownerKeys = ownerKeys
        self.talkKeyReported = talkKeyReported
    }

    private func ownerKeysMessage() -> String? {
        guard let keys = ownerKeys() else {
            logger.error("Cannot read the owner's keys; doorbells keep the keys they have.")
            return nil
        }
        return Self.text(.ownerKeys(keys))
    }

    /// Sends the owner's current keys to every connected doorbell (after a key was added or revoked).
    public func publishOwnerKeys() {
        guard let text = ownerKeysMessage() else { return }
        for connection in connections.withLock({ Array($0.values) }) {
            Task { try? await connection.outbound.write(.text(text)) }
        }
    }

    /// Channels opened since the hub started.
    public var channelsOpened: Int { opened.load(ordering: .relaxed) }
    private let opened = Atomic<Int>(0)

    /// Limits on what a doorbell's text messages carry (docs/protocol.md, Limits).
    static let maximumText = 256 << 10
    static let maximumRecords = 100

    /// Devices with an open channel.
    public var connected: Set<String> { connections.withLock { Set($0.keys) } }

    /// Devices with a channel, a talk session or a live viewer: what a revocation has to end.
    public var engaged: Set<String> {
        connected.union(talkers.withLock { Set($0.keys) }).union(viewers.withLock { Set($0.keys) })
    }

    /// Ends everything a device has here at once (it was revoked): its channel stops counting
    /// and carrying messages, its talk session and live viewers end, and the socket is closed.
    public func disconnect(_ device: String, reason: String) {
        let connection = connections.withLock { $0.removeValue(forKey: device) }
        if let talker = talkers.withLock({ $0.removeValue(forKey: device) }) { talker.door.finish() }
        for viewer in viewers.withLock({ $0.removeValue(forKey: device).map { Array($0.values) } ?? [] }) {
            viewer.finish()
        }
        guard let connection else { return }
        logger.notice(
            "Control channel closed by the sync module.", metadata: ["device": "\(device)", "reason": "\(reason)"])
        Task { try? await connection.outbound.close(.policyViolation, reason: String(reason.prefix(100))) }
    }

    /// Serves one device's channel until it closes.
    func serve(device: String, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let serial = nextSerial.add(1, ordering: .relaxed).newValue
        // The owner's keys go first, before the channel can carry a command: a live view or
        // snapshot asked for at once is then sealed for them.
        if let keys = ownerKeysMessage() { try await outbound.write(.text(keys)) }
        if let accessLog {
            let have = (try? accessLog.lastAccessSequence(log: device)) ?? 0
            try await outbound.write(.text(Self.text(.accessHello(have: have, key: accessLog.accessPublicKey))))
        }
        connections.withLock { $0[device] = Connection(serial: serial, outbound: outbound) }
        opened.add(1, ordering: .relaxed)
        logger.notice("Control channel open.", metadata: ["device": "\(device)"])
        /// Sends the sync module's access-log entries the doorbell lacks, once it has said which
        /// it has, and then each second what is new.
        var mirroring: Task<Void, Never>?
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: ControlMessage.heartbeatInterval)
                try? await outbound.write(.text(Self.text(.heartbeat)))
            }
        }
        // The doorbell's access records are verified and appended (an fsync each) in order on a
        // queue of their own, so the reader goes on reading meanwhile. A doorbell that sends
        // faster than they are stored has its channel closed; it resends from where the sync
        // module says it is when it reconnects.
        let appends = MirrorQueue(device: device)
        defer {
            heartbeat.cancel()
            mirroring?.cancel()
            connections.withLock { table in
                if table[device]?.serial == serial { table.removeValue(forKey: device) }
            }
            logger.notice("Control channel closed.", metadata: ["device": "\(device)"])
        }
        reading: for try await message in inbound.messages(maxSize: 4 << 20) {
            // A channel that was replaced by a newer one, or ended by a revocation, carries
            // nothing more.
            guard connections.withLock({ $0[device]?.serial }) == serial else { break }
            switch message {
            case .text(let text):
                // Text is commands' results, status and access records (at most 100 a message):
                // far below the 4 MiB a snapshot may take as binary.
                guard text.utf8.count <= Self.maximumText else {
                    logger.warning(
                        "A control message was larger than text may be; closing the channel.",
                        metadata: ["device": "\(device)", "bytes": "\(text.utf8.count)"])
                    try await outbound.close(.messageTooLarge, reason: "text over \(Self.maximumText) bytes")
                    break reading
                }
                guard let decoded = try? JSONDecoder().decode(ControlMessage.self, from: Data(text.utf8)) else {
                    ignoredMessages.log(
                        "Ignoring a malformed control message.", metadata: ["device": "\(device)"], logger: logger)
                    continue
                }
                switch decoded {
                case .result(let result):
                    let waiter = Waiter(device: device, id: result.id)
                    waiting.withLock { $0.removeValue(forKey: waiter) }?.resume(returning: result)
                case .status(let report):
                    reports.withLock { $0[device] = (report, Date()) }
                    if report.talkKey != nil { talkKeyReported(device, report) }
                case .talkEnded(let ended): endTalk(device: device, session: ended.session, tellDoorbell: false)
                case .accessHello(let hello):
                    mirroring?.cancel()
                    mirroring = accessLog.map { mirror(to: outbound, from: hello.have, $0) }
                case .accessRecords(let records):
                    guard let accessLog else { continue }
                    guard records.count <= Self.maximumRecords else {
                        refusedRecords.log(
                            "Refused the doorbell's access-log entries: more than a message may carry.",
                            metadata: ["device": "\(device)", "records": "\(records.count)"], logger: logger)
                        continue
                    }
                    let admitted = appends.submit { [logger, refusedRecords] in
                        do {
                            _ = try accessLog.appendMirrored(records, device: device)
                        } catch {
                            refusedRecords.log(
                                "Refused the doorbell's access-log entries.", level: .error,
                                metadata: ["device": "\(device)", "reason": "\(error)"], logger: logger)
                        }
                    }
                    guard admitted else {
                        logger.warning(
                            "The doorbell sends access-log entries faster than they are stored; closing its channel.",
                            metadata: ["device": "\(device)"])
                        try await outbound.close(.policyViolation, reason: "access records too fast")
                        break reading
                    }
                case .command, .heartbeat, .ownerKeys:
                    // The sync module's own kinds: a doorbell has no business sending them.
                    ignoredMessages.log(
                        "Ignoring a control message only the sync module sends.",
                        metadata: ["device": "\(device)", "type": "\(decoded.kind.rawValue)"], logger: logger)
                }
            case .binary(var buffer):
                guard let tag = buffer.readInteger(as: UInt8.self), let stream = ControlStream(rawValue: tag) else {
                    continue
                }
                let payload = buffer.readData(length: buffer.readableBytes) ?? Data()
                switch stream {
                case .liveFrame, .snapshot:
                    // No picture is relayed in the clear, whatever a doorbell sends.
                    guard SealedMedia.beginsSealed(payload) else {
                        unsealedPictures.log(
                            "Dropped a picture the doorbell sent unsealed; none is relayed in the clear.",
                            level: .error,
                            metadata: ["device": "\(device)"], logger: logger)
                        continue
                    }
                    deliverFrame(payload, from: device)
                case .talkAudio:
                    // Only sealed frames are relayed: a frame of plain audio is not their size.
                    guard payload.count == TalkSeal.frameSize else {
                        talkRefusals.log(
                            "Dropped talk audio the doorbell sent unsealed; none is relayed in the clear.",
                            level: .error, metadata: ["device": "\(device)", "bytes": "\(payload.count)"],
                            logger: logger)
                        continue
                    }
                    _ = talkers.withLock { $0[device] }?.door.yield(payload)
                }
            }
        }
        // The channel is gone, and with it any talk session, unless a newer channel has the device.
        if connections.withLock({ $0[device]?.serial }) == serial,
            let talker = talkers.withLock({ $0.removeValue(forKey: device) })
        {
            talker.door.finish()
        }
    }

    private func mirror(to outbound: WebSocketOutboundWriter, from have: Int64, _ store: any AccessLogStore) -> Task<
        Void, Never
    > {
        Task { [logger] in
            var has = have
            while !Task.isCancelled {
                do {
                    let batch = try store.accessRecords(log: "sync", after: has, limit: 100)
                    if let last = batch.last {
                        try await outbound.write(.text(Self.text(.accessRecords(batch))))
                        has = last.sequence
                        continue
                    }
                } catch {
                    logger.warning("Cannot mirror the access log.", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    static func text(_ message: ControlMessage) -> String {
        String(decoding: (try? JSONEncoder().encode(message)) ?? Data(), as: UTF8.self)
    }

    /// Starts a talk session with a device on the owner's signed `talk-start` (its session id is
    /// the one signed): the door's sealed frames come out of the stream until the session ends,
    /// after the header that carries the door's key for the owner. One session per device; a
    /// second owner is refused with the reason.
    public func beginTalk(device: String, session: String, signed: String, signature: String) async -> Result<
        (header: Data, door: AsyncStream<Data>), TalkRefused
    > {
        let (stream, continuation) = AsyncStream.makeStream(of: Data.self, bufferingPolicy: .bufferingNewest(50))
        let claimed = talkers.withLock { table -> Bool in
            guard table[device] == nil else { return false }
            table[device] = (session, continuation)
            return true
        }
        guard claimed else { return .failure(TalkRefused("someone else is talking at this door")) }
        let answer = await send(
            ControlCommand(.talkStart, id: UUID().uuidString, signed: signed, signature: signature), to: device)
        guard answer.ok, let header = answer.header.flatMap({ Data(base64Encoded: $0) }),
            SealedMedia.beginsSealed(header)
        else {
            endTalk(device: device, session: session, tellDoorbell: answer.ok)
            return .failure(TalkRefused(answer.reason ?? "the doorbell sent no sealed talk header"))
        }
        return .success((header, stream))
    }

    /// One sealed frame of the owner's voice for the device's running session.
    /// Returns whether it went onto the channel: not once the session has ended or the doorbell's
    /// channel is gone.
    @discardableResult
    public func sendTalk(_ frame: Data, device: String, session: String) async throws -> Bool {
        guard talkers.withLock({ $0[device]?.session }) == session,
            let connection = connections.withLock({ $0[device] })
        else { return false }
        var buffer = ByteBuffer()
        buffer.writeInteger(ControlStream.talkAudio.rawValue)
        buffer.writeBytes(frame)
        try await connection.outbound.write(.binary(buffer))
        return true
    }

    /// Ends a talk session (the owner left, or the doorbell ended it).
    public func endTalk(device: String, session: String, tellDoorbell: Bool = true) {
        let talker = talkers.withLock { table -> (session: String, door: AsyncStream<Data>.Continuation)? in
            guard table[device]?.session == session else { return nil }
            return table.removeValue(forKey: device)
        }
        guard let talker else { return }
        talker.door.finish()
        if tellDoorbell {
            Task { _ = await send(ControlCommand(.talkStop, id: UUID().uuidString, session: session), to: device) }
        }
    }

    /// Sends a command and waits for its result (or a timeout, answered as a failure).
    public func send(_ command: ControlCommand, to device: String, timeout: Duration = .seconds(5)) async
        -> ControlResult
    {
        await send(text: Self.text(.command(command)), id: command.id, to: device, timeout: timeout)
    }

    /// Sends a command's JSON as it is (tests send kinds this code cannot make) and waits for the
    /// result with `id`.
    func send(text: String, id: String, to device: String, timeout: Duration = .seconds(5)) async -> ControlResult {
        guard let connection = connections.withLock({ $0[device] }) else {
            return .result(for: id, ok: false, reason: "the doorbell is not connected")
        }
        let waiter = Waiter(device: device, id: id)
        return await withCheckedContinuation { continuation in
            waiting.withLock { $0[waiter] = continuation }
            Task {
                let finish = { (reason: String) in
                    self.waiting.withLock { $0.removeValue(forKey: waiter) }?.resume(
                        returning: .result(for: id, ok: false, reason: reason))
                }
                do {
                    try await connection.outbound.write(.text(text))
                } catch {
                    finish("the control channel failed: \(error)")
                    return
                }
                try? await Task.sleep(for: timeout)
                finish("the doorbell did not answer in time")
            }
        }
    }

    /// The last status report of a device, and when it came.
    public func report(of device: String) -> (report: StatusReport, at: Date)? {
        reports.withLock { $0[device] }
    }

    /// Live frames from a device (JPEG bytes, privacy-masked at the doorbell), from now until the
    /// caller stops iterating. Only the newest frame is kept for a slow viewer. When the last viewer
    /// of a device goes, the hub tells the doorbell to stop streaming.
    public func frames(from device: String) -> AsyncStream<Data> {
        let id = nextSerial.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(of: Data.self, bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            let last = viewers.withLock { table -> Bool in
                table[device]?.removeValue(forKey: id)
                guard table[device]?.isEmpty ?? true else { return false }
                table.removeValue(forKey: device)
                return true
            }
            if last {
                Task { _ = await self.send(ControlCommand(.liveStop, id: "live-stop-\(id)"), to: device) }
            }
        }
        viewers.withLock { $0[device, default: [:]][id] = continuation }
        return stream
    }

    private func deliverFrame(_ jpeg: Data, from device: String) {
        for viewer in viewers.withLock({ Array(($0[device] ?? [:]).values) }) { viewer.yield(jpeg) }
    }
}

/// Why the hub could not start a talk session; `reason` is shown to the owner.
public struct TalkRefused: Error, Sendable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
}

/// One doorbell's mirrored access-log appends, run in order on a serial queue off Swift's pool,
/// at most `limit` waiting.
final class MirrorQueue: Sendable {
    static let limit = 8
    private let queue: DispatchQueue
    private let waiting = Mutex(0)

    init(device: String) {
        queue = DispatchQueue(label: "porchlight-mirror-\(device.prefix(16))")
    }

    /// Queues `work`; false, and nothing queued, when `limit` are waiting already.
    func submit(_ work: @escaping @Sendable () -> Void) -> Bool {
        let admitted = waiting.withLock { count -> Bool in
            guard count < Self.limit else { return false }
            count += 1
            return true
        }
        guard admitted else { return false }
        queue.async { [self] in
            work()
            waiting.withLock { $0 -= 1 }
        }
        return true
    }
}

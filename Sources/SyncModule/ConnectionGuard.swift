import HummingbirdCore
import Logging
import NIOCore
import Synchronization

/// Connection limits for the sync module's listener: the first defence against a stranger on the
/// home network who opens connections and sends nothing, or a byte at a time (slowloris).
public struct ConnectionLimits: Sendable {
    /// Open connections in all, and from one address. A home has a few doorbells and browsers;
    /// each page holds a handful of connections.
    public var total = 1024
    public var perAddress = 64
    /// From accepting a connection to the end of its first request's head, TLS handshake
    /// included. After that, Hummingbird's idle timeout closes keep-alive connections that sit
    /// idle; WebSockets have their own heartbeats.
    public var firstRequest = Duration.seconds(10)
    /// A keep-alive connection with no request in progress is closed after this.
    public var idle = Duration.seconds(60)

    public init() {}
}

/// Counts the open connections, in all and per address.
final class ConnectionCounts: Sendable {
    let limits: ConnectionLimits
    private let open = Mutex<(total: Int, byAddress: [String: Int])>((0, [:]))

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    /// Takes a place for a connection from `address`, or says why there is none.
    func admit(_ address: String) -> String? {
        open.withLock { open in
            guard open.total < limits.total else { return "the sync module holds \(limits.total) connections" }
            guard open.byAddress[address, default: 0] < limits.perAddress else {
                return "\(address) holds \(limits.perAddress) connections"
            }
            open.total += 1
            open.byAddress[address, default: 0] += 1
            return nil
        }
    }

    func release(_ address: String) {
        open.withLock { open in
            open.total -= 1
            let left = open.byAddress[address, default: 1] - 1
            open.byAddress[address] = left > 0 ? left : nil
        }
    }

}

/// Wraps the HTTP channel behind TLS: refuses a connection past the limits at once, and closes
/// one whose TLS handshake and first request head have not arrived within `firstRequest`.
struct GuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let counts: ConnectionCounts
    let refusals: RefusalLog

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        if let reason = counts.admit(address) {
            refusals.note(reason, logger: logger)
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ChannelError.inputClosed)
        }
        channel.closeFuture.whenComplete { [counts] _ in counts.release(address) }
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                FirstRequestDeadline(deadline: counts.limits.firstRequest, refusals: refusals, logger: logger))
        }.flatMap { base.setup(channel: channel, logger: logger) }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension GuardedChannel: HTTPChannelHandler where Base: HTTPChannelHandler {
    var responder: HTTPChannelHandler.Responder { base.responder }
}

/// Sits between TLS and HTTP and watches the decrypted bytes until the first request's head
/// ends (a blank line); a connection that has not got that far by the deadline is closed. It
/// then steps out of the pipeline.
final class FirstRequestDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let deadline: Duration
    let refusals: RefusalLog
    let logger: Logger
    private var timer: Scheduled<Void>?
    /// The last three bytes seen, so a blank line split across reads is found.
    private var tail: [UInt8] = []

    init(deadline: Duration, refusals: RefusalLog, logger: Logger) {
        self.deadline = deadline
        self.refusals = refusals
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        let refusals = refusals
        let logger = logger
        let seconds = deadline / .seconds(1)
        timer = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(deadline / .nanoseconds(1)))) {
            refusals.note("a connection sent no request head within \(Int(seconds)) s", logger: logger)
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let bytes = tail + buffer.readableBytesView
        context.fireChannelRead(data)
        if Self.containsHeadEnd(bytes) {
            timer?.cancel()
            timer = nil
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        } else {
            tail = Array(bytes.suffix(3))
        }
    }

    /// Whether `bytes` hold the blank line (`\r\n\r\n`) that ends a request head.
    static func containsHeadEnd(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && (3..<bytes.count).contains { bytes[$0 - 3...$0].elementsEqual([0x0D, 0x0A, 0x0D, 0x0A]) }
    }
}

/// Logs a kind of refusal at most once every 10 s, with the count since the last line: a flood of
/// refused connections, or of a hostile doorbell's refused messages, is one line, not a flood.
final class RefusalLog: Sendable {
    private let state = Mutex<(last: ContinuousClock.Instant?, suppressed: Int)>((nil, 0))

    func note(_ reason: String, logger: Logger) {
        log("Connection refused.", metadata: ["reason": "\(reason)"], logger: logger)
    }

    func log(
        _ message: Logger.Message, level: Logger.Level = .warning, metadata: Logger.Metadata, logger: Logger
    ) {
        let now = ContinuousClock.now
        let suppressed = state.withLock { state -> Int? in
            if let last = state.last, now - last < .seconds(10) {
                state.suppressed += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.suppressed
        }
        guard let suppressed else { return }
        logger.log(
            level: level, message, metadata: metadata.merging(["refused_since_last_line": "\(suppressed)"]) { $1 })
    }
}

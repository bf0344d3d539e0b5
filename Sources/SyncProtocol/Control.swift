import Foundation

/// A text message on the control channel (docs/protocol.md, Control channel). Commands go from
/// the sync module to the doorbell; results and notices come back.
public struct ControlMessage: Codable, Sendable, Equatable {
    /// `command`, `result`.
    public var type: String
    /// Matches a result to its command.
    public var id: String
    /// For commands: `snapshot-now`, `live-start`, `live-stop`, `talk-start`, `talk-stop`,
    /// `quick-reply`, `reload-config`.
    public var name: String?
    /// `live-start`: the longest the stream may run.
    public var maxSeconds: Int?
    /// `quick-reply`: which recording.
    public var reply: String?
    /// For results.
    public var ok: Bool?
    public var reason: String?
    /// For `status` reports from the doorbell (on connect and every 15 s): its STATUS line, the
    /// events waiting in its outbox, its version, and its camera.
    public var status: String?
    public var backlog: Int?
    public var version: String?
    public var camera: String?

    public init(
        type: String, id: String, name: String? = nil, maxSeconds: Int? = nil, reply: String? = nil,
        ok: Bool? = nil, reason: String? = nil
    ) {
        self.type = type
        self.id = id
        self.name = name
        self.maxSeconds = maxSeconds
        self.reply = reply
        self.ok = ok
        self.reason = reason
    }

    public static func command(_ name: String, id: String, maxSeconds: Int? = nil, reply: String? = nil) -> Self {
        ControlMessage(type: "command", id: id, name: name, maxSeconds: maxSeconds, reply: reply)
    }

    public static func result(for id: String, ok: Bool, reason: String? = nil) -> Self {
        ControlMessage(type: "result", id: id, ok: ok, reason: reason)
    }

    public static func report(status: String, backlog: Int, version: String, camera: String) -> Self {
        var message = ControlMessage(type: "status", id: "")
        message.status = status
        message.backlog = backlog
        message.version = version
        message.camera = camera
        return message
    }
}

/// Binary messages on the control channel start with one byte naming their stream.
public enum ControlStream: UInt8, Sendable {
    /// A live-view JPEG, already privacy-masked.
    case liveFrame = 1
    /// A `snapshot-now` JPEG.
    case snapshot = 2
    /// Talk audio (the audio issue fills it in).
    case talkAudio = 3
}

/// The path the doorbell opens the control channel on.
public let controlPath = "/v1/control"

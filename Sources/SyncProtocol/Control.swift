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
    /// `talk-stop` and the doorbell's `talk-ended`: the talk session (the one the owner signed).
    public var session: String?
    /// For results.
    public var ok: Bool?
    public var reason: String?
    /// For `status` reports from the doorbell (on connect and every 15 s): its STATUS line, the
    /// events waiting in its outbox, its version, and its camera.
    public var status: String?
    public var backlog: Int?
    public var version: String?
    public var camera: String?
    /// The quick replies the doorbell can play, by name.
    public var replies: [String]?
    /// `owner-keys`, from the sync module: the owner's current public keys, which media is sealed for.
    public var keys: [OwnerKeyWire]?
    /// `access-hello`, both ways when the channel opens: the newest entry the sender holds of the
    /// other side's access log; the sync module's also carries its access-log key (base64).
    public var have: Int64?
    public var accessKey: String?
    /// `access-records`: entries of the sender's access log, oldest first.
    public var records: [AccessRecord]?
    /// Commands that can see or hear (`live-start`, `snapshot-now`, `talk-start`, `quick-reply`):
    /// the JSON the owner's browser signed, as it signed it, and the signature (base64 raw r‖s).
    /// The doorbell takes their arguments from the signed text alone (docs/privacy.md).
    public var signed: String?
    public var signature: String?
    /// The `talk-start` result: the sealed header (base64) carrying the door's key for the session.
    public var header: String?
    /// In `status`: the doorbell's talk key (base64 P-256 point) and its device key's Ed25519
    /// signature over it (base64), which the sync module pins the first time.
    public var talkKey: String?
    public var talkKeySignature: String?

    public init(type: String, id: String, name: String? = nil, ok: Bool? = nil, reason: String? = nil) {
        self.type = type
        self.id = id
        self.name = name
        self.ok = ok
        self.reason = reason
    }

    /// A command that needs no signature (`live-stop`, `talk-stop` with its `session`,
    /// `reload-config`); the others carry the owner's (`signedCommand`), and their arguments in it.
    public static func command(_ name: String, id: String, session: String? = nil) -> Self {
        var message = ControlMessage(type: "command", id: id, name: name)
        message.session = session
        return message
    }

    /// A command the owner signed, relayed as it came from the browser.
    public static func signedCommand(_ name: String, id: String, signed: String, signature: String) -> Self {
        var message = ControlMessage(type: "command", id: id, name: name)
        message.signed = signed
        message.signature = signature
        return message
    }

    /// The owner's current (not revoked) public keys, sent when the channel opens and when they change.
    public static func ownerKeys(_ keys: [OwnerKeyWire]) -> Self {
        var message = ControlMessage(type: "owner-keys", id: "")
        message.keys = keys
        return message
    }

    public static func accessHello(have: Int64, key: Data? = nil) -> Self {
        var message = ControlMessage(type: "access-hello", id: "")
        message.have = have
        message.accessKey = key?.base64EncodedString()
        return message
    }

    public static func accessRecords(_ records: [AccessRecord]) -> Self {
        var message = ControlMessage(type: "access-records", id: "")
        message.records = records
        return message
    }

    /// Sent by the sync module every ``heartbeatInterval`` from a task of its own. The doorbell
    /// closes a channel that has carried nothing for three intervals. WebSocket pings would not
    /// do: the WebSocket library writes each pong from the reader, so a reader whose outbound
    /// direction is full stops reading until it drains, and with both sides pinging while both
    /// directions were full (a talk on a slow host), both readers stopped for good.
    public static let heartbeat = ControlMessage(type: "heartbeat", id: "")
    public static let heartbeatInterval = Duration.seconds(15)

    /// The doorbell ended a talk session on its own (time limit, sound device failure).
    public static func talkEnded(session: String, reason: String) -> Self {
        var message = ControlMessage(type: "talk-ended", id: "", reason: reason)
        message.session = session
        return message
    }

    public static func result(for id: String, ok: Bool, reason: String? = nil) -> Self {
        ControlMessage(type: "result", id: id, ok: ok, reason: reason)
    }

    public static func report(
        status: String, backlog: Int, version: String, camera: String, replies: [String] = [],
        talkKey: (point: Data, signature: Data)? = nil
    ) -> Self {
        var message = ControlMessage(type: "status", id: "")
        message.talkKey = talkKey?.point.base64EncodedString()
        message.talkKeySignature = talkKey?.signature.base64EncodedString()
        message.replies = replies
        message.status = status
        message.backlog = backlog
        message.version = version
        message.camera = camera
        return message
    }
}

/// An owner public key on the wire: its id, a label, and the uncompressed P-256 point in base64.
public struct OwnerKeyWire: Codable, Sendable, Equatable {
    public var id: String
    public var label: String
    public var publicKey: String
    /// The recovery key's ECDSA signature over this key (raw r‖s, base64); on the recovery key
    /// itself, its own (docs/privacy.md, "Key trust").
    public var signature: String?

    public init(id: String, label: String, publicKey: String, signature: String? = nil) {
        self.id = id
        self.label = label
        self.publicKey = publicKey
        self.signature = signature
    }
}

/// Binary messages on the control channel start with one byte naming their stream.
public enum ControlStream: UInt8, Sendable {
    /// A live-view JPEG, already privacy-masked.
    case liveFrame = 1
    /// A `snapshot-now` JPEG.
    case snapshot = 2
    /// Talk audio, both ways: a `TalkFrame`.
    case talkAudio = 3
}

/// One 20 ms frame of talk audio: a 4-byte big-endian sequence number, then 320 samples of
/// 16 kHz mono S16_LE. On the wire each is sealed (`TalkSeal`); this is what is inside.
public struct TalkFrame: Sendable, Equatable {
    public static let samples = 320
    public static let size = 4 + 2 * samples

    public var sequence: UInt32
    public var samples: [Int16]

    public init(sequence: UInt32, samples: [Int16]) {
        self.sequence = sequence
        self.samples = samples
    }

    /// `nil` unless `bytes` is exactly one frame.
    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == Self.size else { return nil }
        let array = Array(bytes)
        sequence = array[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
        samples = (0..<Self.samples).map {
            Int16(bitPattern: UInt16(array[4 + 2 * $0]) | UInt16(array[5 + 2 * $0]) << 8)
        }
    }

    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Self.size)
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: sequence >> shift)) }
        for sample in samples {
            let bits = UInt16(bitPattern: sample)
            out.append(UInt8(bits & 0xFF))
            out.append(UInt8(bits >> 8))
        }
        return out
    }
}

/// The path the doorbell opens the control channel on.
public let controlPath = "/v1/control"

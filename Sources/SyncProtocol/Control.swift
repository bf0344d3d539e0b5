import Foundation

/// What a control message is: its `type` on the wire (docs/protocol.md, Control channel). A
/// message of any other type does not decode; both ends log it and go on.
public enum ControlKind: String, Codable, Sendable, CaseIterable {
    case command, result, status, heartbeat
    case ownerKeys = "owner-keys"
    case accessHello = "access-hello"
    case accessRecords = "access-records"
    case talkEnded = "talk-ended"
}

/// A command's `name` on the wire. `live-start`, `snapshot-now`, `talk-start` and `quick-reply`
/// can see or hear: the doorbell runs them only when the owner signed them (docs/privacy.md).
public enum CommandName: String, Codable, Sendable, CaseIterable {
    case liveStart = "live-start"
    case liveStop = "live-stop"
    case snapshotNow = "snapshot-now"
    case talkStart = "talk-start"
    case talkStop = "talk-stop"
    case quickReply = "quick-reply"
    case reloadConfig = "reload-config"
}

/// A text message on the control channel (docs/protocol.md, Control channel), one case per kind.
/// Commands go from the sync module to the doorbell; results and notices come back. On the wire
/// each is one JSON object: `type`, `id` (`""` but on commands and results) and the case's fields.
public enum ControlMessage: Sendable, Equatable {
    case command(ControlCommand)
    case result(ControlResult)
    /// The doorbell's report, when the channel opens and every 15 s.
    case status(StatusReport)
    /// Sent by the sync module every ``heartbeatInterval`` from a task of its own. The doorbell
    /// closes a channel that has carried nothing for three intervals. WebSocket pings would not
    /// do: the WebSocket library writes each pong from the reader, so a reader whose outbound
    /// direction is full stops reading until it drains, and with both sides pinging while both
    /// directions were full (a talk on a slow host), both readers stopped for good.
    case heartbeat
    /// From the sync module: the owner's current (not revoked) public keys, which media is sealed
    /// for; sent when the channel opens and when they change.
    case ownerKeys([OwnerKeyWire])
    /// Both ways when the channel opens: how far the sender holds the other side's access log.
    case accessHello(AccessHello)
    /// Entries of the sender's access log, oldest first.
    case accessRecords([AccessRecord])
    /// The doorbell ended a talk session on its own (time limit, sound device failure).
    case talkEnded(TalkEnded)

    public static let heartbeatInterval = Duration.seconds(15)

    public var kind: ControlKind {
        switch self {
        case .command: .command
        case .result: .result
        case .status: .status
        case .heartbeat: .heartbeat
        case .ownerKeys: .ownerKeys
        case .accessHello: .accessHello
        case .accessRecords: .accessRecords
        case .talkEnded: .talkEnded
        }
    }

    public static func accessHello(have: Int64, key: Data? = nil) -> Self {
        .accessHello(AccessHello(have: have, accessKey: key?.base64EncodedString()))
    }

    public static func talkEnded(session: String, reason: String) -> Self {
        .talkEnded(TalkEnded(session: session, reason: reason))
    }
}

extension ControlMessage: Codable {
    private enum Keys: String, CodingKey { case type, id, keys, records }

    /// The case's fields sit beside `type` and `id` in the one object, so each case's payload
    /// decodes from, and encodes into, the message's own container.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let kind = try container.decode(ControlKind.self, forKey: .type)
        // Every message carries one; a notice's is "" and read by nobody.
        _ = try container.decode(String.self, forKey: .id)
        switch kind {
        case .command: self = .command(try ControlCommand(from: decoder))
        case .result: self = .result(try ControlResult(from: decoder))
        case .status: self = .status(try StatusReport(from: decoder))
        case .heartbeat: self = .heartbeat
        case .ownerKeys: self = .ownerKeys(try container.decode([OwnerKeyWire].self, forKey: .keys))
        case .accessHello: self = .accessHello(try AccessHello(from: decoder))
        case .accessRecords: self = .accessRecords(try container.decode([AccessRecord].self, forKey: .records))
        case .talkEnded: self = .talkEnded(try TalkEnded(from: decoder))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(kind, forKey: .type)
        switch self {
        case .command(let command): try command.encode(to: encoder)
        case .result(let result): try result.encode(to: encoder)
        case .status(let report):
            try container.encode("", forKey: .id)
            try report.encode(to: encoder)
        case .heartbeat: try container.encode("", forKey: .id)
        case .ownerKeys(let keys):
            try container.encode("", forKey: .id)
            try container.encode(keys, forKey: .keys)
        case .accessHello(let hello):
            try container.encode("", forKey: .id)
            try hello.encode(to: encoder)
        case .accessRecords(let records):
            try container.encode("", forKey: .id)
            try container.encode(records, forKey: .records)
        case .talkEnded(let ended):
            try container.encode("", forKey: .id)
            try ended.encode(to: encoder)
        }
    }
}

/// A command from the sync module. `live-stop`, `talk-stop` (with its `session`) and
/// `reload-config` need no signature; the others carry the owner's, and their arguments in the
/// text the owner signed (docs/privacy.md), which the doorbell takes them from alone.
public struct ControlCommand: Codable, Sendable, Equatable {
    /// Matches the result to its command.
    public var id: String
    public var name: CommandName
    /// `talk-stop`: the talk session (the one the owner signed).
    public var session: String?
    /// Commands that can see or hear: the JSON the owner's browser signed, as it signed it, and
    /// the signature (base64 raw r‖s).
    public var signed: String?
    public var signature: String?

    /// A command that needs no signature.
    public init(_ name: CommandName, id: String, session: String? = nil) {
        self.id = id
        self.name = name
        self.session = session
    }

    /// A command the owner signed, relayed as it came from the browser.
    public init(_ name: CommandName, id: String, signed: String, signature: String) {
        self.id = id
        self.name = name
        self.signed = signed
        self.signature = signature
    }
}

/// The doorbell's answer to a command, matched to it by `id`.
public struct ControlResult: Codable, Sendable, Equatable {
    public var id: String
    public var ok: Bool
    public var reason: String?
    /// The `talk-start` result: the sealed header (base64) carrying the door's key for the session.
    public var header: String?

    public init(id: String, ok: Bool, reason: String? = nil, header: String? = nil) {
        self.id = id
        self.ok = ok
        self.reason = reason
        self.header = header
    }

    public static func result(for id: String, ok: Bool, reason: String? = nil) -> Self {
        ControlResult(id: id, ok: ok, reason: reason)
    }
}

/// The doorbell's status report: its STATUS line, the events waiting in its outbox, its version,
/// its camera and the quick replies it can play, by name.
public struct StatusReport: Codable, Sendable, Equatable {
    public var status: String
    public var backlog: Int
    public var version: String
    public var camera: String
    public var replies: [String]
    /// The doorbell's talk key (base64 P-256 point) and its device key's Ed25519 signature over it
    /// (base64), which the sync module pins the first time.
    public var talkKey: String?
    public var talkKeySignature: String?

    public init(
        status: String, backlog: Int, version: String, camera: String, replies: [String] = [],
        talkKey: (point: Data, signature: Data)? = nil
    ) {
        self.status = status
        self.backlog = backlog
        self.version = version
        self.camera = camera
        self.replies = replies
        self.talkKey = talkKey?.point.base64EncodedString()
        self.talkKeySignature = talkKey?.signature.base64EncodedString()
    }

    private enum CodingKeys: String, CodingKey {
        case status, backlog, version, camera, replies, talkKey, talkKeySignature
    }

    /// A doorbell from before quick replies sends none: its report still counts.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        status = try container.decode(String.self, forKey: .status)
        backlog = try container.decode(Int.self, forKey: .backlog)
        version = try container.decode(String.self, forKey: .version)
        camera = try container.decode(String.self, forKey: .camera)
        replies = try container.decodeIfPresent([String].self, forKey: .replies) ?? []
        talkKey = try container.decodeIfPresent(String.self, forKey: .talkKey)
        talkKeySignature = try container.decodeIfPresent(String.self, forKey: .talkKeySignature)
    }
}

/// The newest entry the sender holds of the other side's access log; the sync module's also
/// carries its access-log key (base64), which the doorbell pins.
public struct AccessHello: Codable, Sendable, Equatable {
    public var have: Int64
    public var accessKey: String?
}

/// A talk session the doorbell ended on its own, and why.
public struct TalkEnded: Codable, Sendable, Equatable {
    public var session: String
    public var reason: String
}

/// An owner public key on the wire: its id, a label, and the uncompressed P-256 point in base64.
public struct OwnerKeyWire: Codable, Sendable, Equatable {
    public var id: String
    public var label: String
    public var publicKey: String
    /// The recovery key's ECDSA signature over this key (raw r‖s, base64); on the recovery key
    /// itself, its own (docs/privacy.md, "Key trust").
    public var signature: String?
    /// `notification` for a key that opens notification thumbnails only; absent (from sync
    /// modules before it) for an owner key. The signature covers it.
    public var role: String?

    public init(id: String, label: String, publicKey: String, signature: String? = nil, role: String? = nil) {
        self.id = id
        self.label = label
        self.publicKey = publicKey
        self.signature = signature
        self.role = role
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

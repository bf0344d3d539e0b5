/// The protocol version every request carries (`Porchlight-Protocol: 1`); see docs/protocol.md.
public let protocolVersion = 1

/// What an event record is about (docs/protocol.md, Events). A kind this version does not know,
/// from a newer doorbell, is kept as it came (`other`), so that the sync module stores and shows it
/// rather than refusing the batch and stalling the doorbell's outbox behind it.
public enum EventKind: Sendable, Hashable {
    case ring
    /// More presses were counted on an earlier ring (`eventID` is the ring's).
    case ringPressCount
    case longPress
    case motionStarted, motionUpdated, motionEnded
    /// A snapshot or clip the doorbell lost before it could upload it.
    case mediaEvicted
    case other(String)

    /// Every kind this version knows.
    public static let known: [EventKind] = [
        .ring, .ringPressCount, .longPress, .motionStarted, .motionUpdated, .motionEnded, .mediaEvicted,
    ]
}

extension EventKind: RawRepresentable, Codable {
    public init(rawValue: String) {
        self = Self.known.first { $0.rawValue == rawValue } ?? .other(rawValue)
    }

    public var rawValue: String {
        switch self {
        case .ring: "ring"
        case .ringPressCount: "ring-press-count"
        case .longPress: "long-press"
        case .motionStarted: "motion-started"
        case .motionUpdated: "motion-updated"
        case .motionEnded: "motion-ended"
        case .mediaEvicted: "media-evicted"
        case .other(let name): name
        }
    }
}

/// What a media item is: its id on the wire is `<eventID>-<kind>`.
public enum MediaKind: String, Codable, Sendable, CaseIterable {
    case snapshot, clip
    /// A notification's small picture, sealed for the owner keys and the notification keys.
    case thumbnail

    /// The kind a media id names, for an id of at most 80 safe characters (letters, hex digits
    /// and `-`) that ends in `-snapshot`, `-clip` or `-thumbnail`; nil for any other.
    public init?(mediaID: String) {
        guard mediaID.count <= 80, mediaID.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == "-") || $0.isLetter })
        else { return nil }
        guard let kind = Self.allCases.first(where: { mediaID.hasSuffix("-\($0.rawValue)") }) else { return nil }
        self = kind
    }
}

/// How the doorbell announces a media upload (`PUT /v1/media/{id}`, docs/protocol.md).
public struct MediaAnnouncement: Codable, Sendable, Equatable {
    public var eventID: String
    public var kind: MediaKind
    public var size: Int
    /// Hex SHA-256 of the whole file.
    public var sha256: String

    public init(eventID: String, kind: MediaKind, size: Int, sha256: String) {
        self.eventID = eventID
        self.kind = kind
        self.size = size
        self.sha256 = sha256
    }
}

/// One event as it travels to the sync module: JSON, with an idempotency key that makes a repeated
/// delivery change nothing. Shared by the daemon and the sync module.
public struct WireEvent: Codable, Sendable, Equatable {
    /// Unique per record, so a retried upload is recognised (a ring and its later press-count
    /// updates share `eventID` but each has its own key).
    public var key: String
    /// The event this record is about: the ring's, the motion event's, the long press's.
    public var eventID: String
    public var kind: EventKind
    /// Unix time in milliseconds, from the doorbell's clock.
    public var wallMilliseconds: Int64
    public var pressCount: Int?
    public var chimeSilenced: Bool?
    public var ringID: String?
    public var zones: [String]?
    public var boxes: [[Int]]?
    public var score: Double?
    /// `media-evicted`: which media item was lost, and why.
    public var mediaID: String?
    public var reason: String?

    public init(
        key: String, eventID: String, kind: EventKind, wallMilliseconds: Int64, pressCount: Int? = nil,
        chimeSilenced: Bool? = nil, ringID: String? = nil, zones: [String]? = nil, boxes: [[Int]]? = nil,
        score: Double? = nil, mediaID: String? = nil, reason: String? = nil
    ) {
        self.key = key
        self.eventID = eventID
        self.kind = kind
        self.wallMilliseconds = wallMilliseconds
        self.pressCount = pressCount
        self.chimeSilenced = chimeSilenced
        self.ringID = ringID
        self.zones = zones
        self.boxes = boxes
        self.score = score
        self.mediaID = mediaID
        self.reason = reason
    }

    /// What is wrong with a received event, naming the field; nil when every field is within its
    /// bounds. The sync module refuses an event with a problem (400) before storing it, so that
    /// no stored value can trap the arithmetic or swell the pages that show it later.
    public var problem: String? {
        func text(_ name: String, _ value: String?, _ range: ClosedRange<Int>) -> String? {
            guard let value else { return nil }
            return range.contains(value.utf8.count) ? nil : "\(name): \(range.lowerBound) to \(range.upperBound) bytes"
        }
        if let problem = text("key", key, 1...128) ?? text("eventID", eventID, 1...128)
            ?? text("kind", kind.rawValue, 1...32)
            ?? text("ringID", ringID, 1...128) ?? text("mediaID", mediaID, 1...128) ?? text("reason", reason, 0...500)
        {
            return problem
        }
        if !Self.wallTimes.contains(wallMilliseconds) { return "wallMilliseconds: Unix milliseconds, 1970 to 9999" }
        if let pressCount, !(1...1_000_000).contains(pressCount) { return "pressCount: 1 to 1000000" }
        if let zones {
            if zones.count > 32 { return "zones: at most 32" }
            if let problem = zones.lazy.compactMap({ text("zones[]", $0, 1...64) }).first { return problem }
        }
        if let boxes {
            if boxes.count > 64 { return "boxes: at most 64" }
            if boxes.contains(where: { $0.count != 4 || $0.contains { !(0...65_535).contains($0) } }) {
                return "boxes: [x, y, width, height], each 0 to 65535"
            }
        }
        if let score, !score.isFinite || score < 0 { return "score: a finite number, 0 or more" }
        return nil
    }

    /// The wall times an event may carry: 1970 to the end of 9999, in Unix milliseconds.
    public static let wallTimes: ClosedRange<Int64> = 0...253_402_300_799_999
}

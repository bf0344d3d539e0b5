import DoorbellCore

/// The protocol version every request carries (`Porchlight-Protocol: 1`); see docs/protocol.md.
public let protocolVersion = 1

/// One event as it travels to the sync module: JSON, with an idempotency key that makes a repeated
/// delivery change nothing. Shared by the daemon and the sync module.
public struct WireEvent: Codable, Sendable, Equatable {
    /// Unique per record, so a retried upload is recognised (a ring and its later press-count
    /// updates share `eventID` but each has its own key).
    public var key: String
    /// The event this record is about: the ring's, the motion event's, the long press's.
    public var eventID: String
    /// `ring`, `ring-press-count`, `long-press`, `motion-started`, `motion-updated`, `motion-ended`,
    /// `media-evicted`.
    public var kind: String
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
        key: String, eventID: String, kind: String, wallMilliseconds: Int64, pressCount: Int? = nil,
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

    /// The wire form of a doorbell event; `key` comes from the outbox.
    public init(_ event: DoorbellEvent, key: String, wallMilliseconds fallback: Int64) {
        switch event {
        case .ring(let ring):
            self.init(
                key: key, eventID: ring.id.rawValue, kind: event.kind, wallMilliseconds: ring.wall.epochMilliseconds,
                pressCount: ring.pressCount, chimeSilenced: ring.chimeSilenced)
        case .ringPressCount(let ringID, let count):
            self.init(
                key: key, eventID: ringID.rawValue, kind: event.kind, wallMilliseconds: fallback, pressCount: count)
        case .longPress(let press):
            self.init(
                key: key, eventID: press.id.rawValue, kind: event.kind, wallMilliseconds: press.wall.epochMilliseconds,
                ringID: press.ringID?.rawValue)
        case .motion(let motion):
            self.init(
                key: key, eventID: motion.id.rawValue, kind: event.kind,
                wallMilliseconds: motion.wall.epochMilliseconds,
                zones: motion.zones, boxes: motion.boxes.map { [$0.x, $0.y, $0.width, $0.height] }, score: motion.score)
        case .mediaEvicted(let eviction):
            self.init(
                key: key, eventID: eviction.media.eventID.rawValue, kind: event.kind, wallMilliseconds: fallback,
                mediaID: eviction.media.id, reason: eviction.reason)
        }
    }
}

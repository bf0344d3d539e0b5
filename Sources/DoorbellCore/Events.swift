import Synchronization

/// A unique, time-ordered event identifier: a UUIDv7 (48-bit Unix milliseconds, then random bits),
/// so that ids sort by creation time on the sync module and in logs.
public struct EventID: Sendable, Hashable, CustomStringConvertible, Comparable {
    public let rawValue: String

    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// The last (milliseconds, counter) handed out, so that ids made in the same millisecond, or
    /// after the wall clock stepped back, still sort in creation order (RFC 9562, method 1: a
    /// 12-bit counter in rand_a).
    private static let last = Mutex<(millis: UInt64, counter: UInt16)>((0, 0))

    public static func make(epochMilliseconds: Int64) -> EventID {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 16)
        let (millis, counter) = last.withLock { last -> (UInt64, UInt16) in
            var next = (millis: UInt64(max(0, epochMilliseconds)), counter: UInt16(0))
            if next.millis <= last.millis {
                next = last.counter < 0x0FFF ? (last.millis, last.counter + 1) : (last.millis + 1, 0)
            }
            last = next
            return next
        }
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: millis >> (8 * UInt64(5 - index))) }
        for index in 8..<16 { bytes[index] = generator.next() }
        bytes[6] = 0x70 | UInt8(counter >> 8)  // version 7, counter high bits
        bytes[7] = UInt8(truncatingIfNeeded: counter)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // RFC 9562 variant
        let hex = bytes.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
        }
        let text =
            hex[0..<4].joined() + "-" + hex[4..<6].joined() + "-" + hex[6..<8].joined() + "-"
            + hex[8..<10].joined() + "-" + hex[10..<16].joined()
        return EventID(rawValue: text)
    }

    public var description: String { rawValue }
    public static func < (lhs: EventID, rhs: EventID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// When the id was made (its first 48 bits), or nil for an id that is not a UUIDv7.
    public var epochMilliseconds: Int64? {
        let hex = String(rawValue.filter { $0 != "-" })
        guard hex.count == 32, let millis = Int64(hex.prefix(12), radix: 16) else { return nil }
        return millis
    }
}

/// Wall-clock time as the owner reads it.
public struct WallTime: Sendable, Equatable {
    public var epochMilliseconds: Int64
    /// Minutes since local midnight, for quiet hours.
    public var minuteOfDay: Int

    public init(epochMilliseconds: Int64, minuteOfDay: Int) {
        self.epochMilliseconds = epochMilliseconds
        self.minuteOfDay = minuteOfDay
    }
}

/// A visitor rang.
public struct Ring: Sendable, Equatable {
    public var id: EventID
    /// CLOCK_MONOTONIC time of the press, from the kernel's edge timestamp.
    public var monotonic: Duration
    public var wall: WallTime
    /// Presses counted on this ring so far; the first event always says 1.
    public var pressCount: Int
    /// Do not disturb was on: the chime stayed silent, the ring is still recorded.
    public var chimeSilenced: Bool

    public init(id: EventID, monotonic: Duration, wall: WallTime, pressCount: Int, chimeSilenced: Bool) {
        self.id = id
        self.monotonic = monotonic
        self.wall = wall
        self.pressCount = pressCount
        self.chimeSilenced = chimeSilenced
    }
}

/// The button was held for the long-press time.
public struct LongPress: Sendable, Equatable {
    public var id: EventID
    public var monotonic: Duration
    public var wall: WallTime
    /// The ring this press started, if it started one.
    public var ringID: EventID?
}

/// A box around motion, in camera-frame pixels.
public struct MotionBox: Sendable, Equatable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }
}

/// Motion at the door: the start, updates while it lasts, and the end of one motion event.
public struct MotionActivity: Sendable, Equatable {
    public enum Phase: String, Sendable {
        case started, updated, ended
    }

    /// The same id for the start, the updates and the end of one event.
    public var id: EventID
    public var phase: Phase
    /// CLOCK_MONOTONIC time the motion was first seen (for `started`) or of this report.
    public var monotonic: Duration
    public var wall: WallTime
    public var zones: [String]
    public var boxes: [MotionBox]
    /// How far over the zone's minimum area the motion is (≥ 1).
    public var score: Double

    public init(
        id: EventID, phase: Phase, monotonic: Duration, wall: WallTime, zones: [String], boxes: [MotionBox],
        score: Double
    ) {
        self.id = id
        self.phase = phase
        self.monotonic = monotonic
        self.wall = wall
        self.zones = zones
        self.boxes = boxes
        self.score = score
    }
}

/// A snapshot or clip that the bounded media store deleted before it reached the sync module, so
/// that the owner sees it existed and why it is missing.
public struct MediaEviction: Sendable, Equatable {
    public var media: MediaItem
    public var reason: String

    public init(media: MediaItem, reason: String) {
        self.media = media
        self.reason = reason
    }
}

/// What the doorbell reports to the owner.
public enum DoorbellEvent: Sendable, Equatable {
    case ring(Ring)
    /// More presses were counted on an earlier ring.
    case ringPressCount(ringID: EventID, pressCount: Int)
    case longPress(LongPress)
    case motion(MotionActivity)
    case mediaEvicted(MediaEviction)

    public var id: EventID {
        switch self {
        case .ring(let ring): ring.id
        case .ringPressCount(let ringID, _): ringID
        case .longPress(let press): press.id
        case .motion(let motion): motion.id
        case .mediaEvicted(let eviction): eviction.media.eventID
        }
    }

    /// A short name for logs: `ring`, `ring-press-count`, `long-press`.
    public var kind: String {
        switch self {
        case .ring: "ring"
        case .ringPressCount: "ring-press-count"
        case .longPress: "long-press"
        case .motion(let motion): "motion-\(motion.phase.rawValue)"
        case .mediaEvicted: "media-evicted"
        }
    }
}

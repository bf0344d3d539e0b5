import DoorbellCore
import SyncProtocol

/// The doorbell's events in the wire form, here on the doorbell's side, so that the protocol (and
/// the sync module, which links it) knows nothing of the doorbell's domain.
extension WireEvent {
    /// The wire form of a doorbell event; `key` comes from the outbox.
    public init(_ event: DoorbellEvent, key: String, wallMilliseconds fallback: Int64) {
        switch event {
        case .ring(let ring):
            self.init(
                key: key, eventID: ring.id.rawValue, kind: .ring, wallMilliseconds: ring.wall.epochMilliseconds,
                pressCount: ring.pressCount, chimeSilenced: ring.chimeSilenced)
        case .ringPressCount(let ringID, let count):
            self.init(
                key: key, eventID: ringID.rawValue, kind: .ringPressCount, wallMilliseconds: fallback, pressCount: count
            )
        case .longPress(let press):
            self.init(
                key: key, eventID: press.id.rawValue, kind: .longPress, wallMilliseconds: press.wall.epochMilliseconds,
                ringID: press.ringID?.rawValue)
        case .motion(let motion):
            self.init(
                key: key, eventID: motion.id.rawValue, kind: EventKind(motion.phase),
                wallMilliseconds: motion.wall.epochMilliseconds,
                zones: motion.zones, boxes: motion.boxes.map { [$0.x, $0.y, $0.width, $0.height] }, score: motion.score)
        case .mediaEvicted(let eviction):
            self.init(
                key: key, eventID: eviction.media.eventID.rawValue, kind: .mediaEvicted, wallMilliseconds: fallback,
                mediaID: eviction.media.id, reason: eviction.reason)
        }
    }
}

extension EventKind {
    init(_ phase: MotionActivity.Phase) {
        switch phase {
        case .started: self = .motionStarted
        case .updated: self = .motionUpdated
        case .ended: self = .motionEnded
        }
    }
}

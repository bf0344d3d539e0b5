import Synchronization

/// Turns the button's decisions into actions, in this order: the chime (unless do not disturb is
/// on), the media request, then the event for the owner. Everything here returns at once; the
/// event is queued for the sink, which may be slow or down.
public final class DoorbellEngine: Sendable {
    private let chime: any ChimeOutput
    private let media: any MediaCapture
    private let events: EventDispatcher
    private let doNotDisturb: DoNotDisturb
    private let clock: any DoorbellClock
    private let currentRing = Mutex<EventID?>(nil)

    public init(
        chime: any ChimeOutput, media: any MediaCapture, events: EventDispatcher, doNotDisturb: DoNotDisturb,
        clock: any DoorbellClock
    ) {
        self.chime = chime
        self.media = media
        self.events = events
        self.doNotDisturb = doNotDisturb
        self.clock = clock
    }

    public func handle(_ output: ButtonOutput) {
        switch output {
        case .ring(let at):
            let wall = clock.wallNow()
            let silenced = doNotDisturb.isActive(at: wall)
            if !silenced && !doNotDisturb.chimeMuted { chime.strike() }
            let id = EventID.make(epochMilliseconds: wall.epochMilliseconds)
            currentRing.withLock { $0 = id }
            media.captureEvent(id, at: at)
            events.enqueue(.ring(Ring(id: id, monotonic: at, wall: wall, pressCount: 1, chimeSilenced: silenced)))
        case .repeatPress(_, let count):
            guard let ring = currentRing.withLock({ $0 }) else { return }
            events.enqueue(.ringPressCount(ringID: ring, pressCount: count))
        case .longPress(let at):
            let wall = clock.wallNow()
            let press = LongPress(
                id: EventID.make(epochMilliseconds: wall.epochMilliseconds), monotonic: at, wall: wall,
                ringID: currentRing.withLock { $0 })
            events.enqueue(.longPress(press))
        case .pressed, .released:
            break
        }
    }
}

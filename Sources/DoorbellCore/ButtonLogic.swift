/// One edge on the button line as the kernel stamped it, already in logical terms (active-low
/// wiring has been accounted for by the adapter).
public struct ButtonEdge: Sendable, Equatable {
    public enum Level: Sendable, Equatable {
        case pressed
        case released
    }

    public var level: Level
    /// CLOCK_MONOTONIC time of the edge, as the kernel recorded it.
    public var timestamp: Duration

    public init(_ level: Level, at timestamp: Duration) {
        self.level = level
        self.timestamp = timestamp
    }
}

/// What the button logic decided.
public enum ButtonOutput: Sendable, Equatable {
    /// A debounced press began; its time is the first edge of the burst.
    case pressed(at: Duration)
    /// A debounced release; `at` is the release edge, reported once the line stayed released.
    case released(at: Duration, heldFor: Duration)
    /// The first press in a rate-limit window: chime and record a ring.
    case ring(at: Duration)
    /// A further press inside the window: counted on the current ring, no chime.
    case repeatPress(at: Duration, pressCount: Int)
    /// The button has been held for the long-press time (reported while still held).
    case longPress(at: Duration)
}

/// The button's rules, as a pure state machine driven by kernel timestamps:
///
/// - **Debounce.** A press counts at its first edge, so the chime is not delayed by the debounce
///   time; a release counts only once the line has stayed released for the debounce time, so a
///   burst of bounces, or a release and press closer together than that, stay one press.
/// - **Long press.** A press held for `longPress` is reported once, while still held. The ring
///   has already happened at the start of that press.
/// - **Rate limit.** The first press rings and opens a window of `ringWindow`; further presses
///   inside it are counted on that ring instead of ringing again.
///
/// Time only moves through `handle(_:)` and `advance(to:)`; the caller sleeps until
/// `nextDeadline`, so tests drive it with a manual clock.
public struct ButtonLogic: Sendable {
    public struct Settings: Sendable, Equatable {
        public var debounce: Duration
        public var longPress: Duration
        public var ringWindow: Duration

        public init(debounce: Duration, longPress: Duration, ringWindow: Duration) {
            self.debounce = debounce
            self.longPress = longPress
            self.ringWindow = ringWindow
        }
    }

    public var settings: Settings
    /// The debounced state.
    public private(set) var isPressed = false
    private var pressStart: Duration?
    /// The raw line went released at this time while debounced pressed; not yet stable.
    private var pendingRelease: Duration?
    private var longPressReported = false
    private var windowStart: Duration?
    private var pressCount = 0

    public init(settings: Settings) {
        self.settings = settings
    }

    /// Feeds one edge. Timers due before the edge fire first.
    public mutating func handle(_ edge: ButtonEdge) -> [ButtonOutput] {
        var outputs = advance(to: edge.timestamp)
        switch edge.level {
        case .pressed:
            if isPressed {
                pendingRelease = nil  // a bounce, or a release too short to count
            } else {
                press(at: edge.timestamp, into: &outputs)
            }
        case .released:
            if isPressed && pendingRelease == nil { pendingRelease = edge.timestamp }
        }
        return outputs
    }

    /// Lets time pass up to `now`, firing the long-press and release timers that are due.
    public mutating func advance(to now: Duration) -> [ButtonOutput] {
        var outputs: [ButtonOutput] = []
        if let start = pressStart, isPressed, !longPressReported {
            let due = start + settings.longPress
            if now >= due && (pendingRelease.map { $0 >= due } ?? true) {
                longPressReported = true
                outputs.append(.longPress(at: due))
            }
        }
        if let release = pendingRelease, now >= release + settings.debounce {
            isPressed = false
            pendingRelease = nil
            outputs.append(.released(at: release, heldFor: release - (pressStart ?? release)))
            pressStart = nil
        }
        return outputs
    }

    /// When `advance(to:)` next has something to do, if anything.
    public var nextDeadline: Duration? {
        var deadlines: [Duration] = []
        if let release = pendingRelease { deadlines.append(release + settings.debounce) }
        if let start = pressStart, isPressed, !longPressReported { deadlines.append(start + settings.longPress) }
        return deadlines.min()
    }

    private mutating func press(at time: Duration, into outputs: inout [ButtonOutput]) {
        isPressed = true
        pressStart = time
        longPressReported = false
        outputs.append(.pressed(at: time))
        if let start = windowStart, time - start < settings.ringWindow {
            pressCount += 1
            outputs.append(.repeatPress(at: time, pressCount: pressCount))
        } else {
            windowStart = time
            pressCount = 1
            outputs.append(.ring(at: time))
        }
    }
}

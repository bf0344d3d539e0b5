import Synchronization

/// A daily span of local time, such as 22:00–07:00; it may wrap past midnight.
public struct QuietHours: Sendable, Equatable, CustomStringConvertible {
    public var startMinute: Int
    public var endMinute: Int

    public init(startMinute: Int, endMinute: Int) {
        self.startMinute = startMinute
        self.endMinute = endMinute
    }

    public func contains(minuteOfDay minute: Int) -> Bool {
        startMinute <= endMinute
            ? (startMinute..<endMinute).contains(minute)
            : minute >= startMinute || minute < endMinute
    }

    public var description: String {
        func clock(_ m: Int) -> String {
            (m / 60 < 10 ? "0" : "") + "\(m / 60):" + (m % 60 < 10 ? "0" : "") + "\(m % 60)"
        }
        return "\(clock(startMinute))-\(clock(endMinute))"
    }
}

/// "Do not disturb": silences the chime, never the record. Follows the configured quiet hours
/// unless the owner has switched it on or off at run time.
public final class DoNotDisturb: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        /// Follow the schedule.
        case auto
        case on
        case off
    }

    private struct State {
        var schedule: [QuietHours]
        var mode = Mode.auto
        var chimeMuted = false
    }

    private let state: Mutex<State>

    public init(schedule: [QuietHours]) {
        state = Mutex(State(schedule: schedule))
    }

    public var mode: Mode {
        get { state.withLock { $0.mode } }
        set { state.withLock { $0.mode = newValue } }
    }

    /// Chime mute: the chime stays silent, and nothing else changes. Unlike do not disturb, a
    /// ring is not quiet for the owner's notifications (a house that plays the ring on its
    /// speakers instead, say). Set at run time (MQTT), not kept across restarts.
    public var chimeMuted: Bool {
        get { state.withLock { $0.chimeMuted } }
        set { state.withLock { $0.chimeMuted = newValue } }
    }

    /// Replaces the schedule, as a configuration reload does; the run-time mode stays.
    public func setSchedule(_ schedule: [QuietHours]) {
        state.withLock { $0.schedule = schedule }
    }

    public func isActive(at wall: WallTime) -> Bool {
        state.withLock { state in
            switch state.mode {
            case .on: true
            case .off: false
            case .auto: state.schedule.contains { $0.contains(minuteOfDay: wall.minuteOfDay) }
            }
        }
    }
}

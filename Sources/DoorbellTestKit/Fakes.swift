import DoorbellCore
import Logging
import Synchronization

/// A clock the test moves by hand.
public final class ManualClock: DoorbellClock {
    private let state: Mutex<(monotonic: Duration, wall: WallTime)>

    public init(
        monotonic: Duration = .seconds(1000),
        wall: WallTime = WallTime(epochMilliseconds: 1_764_000_000_000, minuteOfDay: 12 * 60)
    ) {
        state = Mutex((monotonic, wall))
    }

    public func monotonicNow() -> Duration { state.withLock { $0.monotonic } }
    public func wallNow() -> WallTime { state.withLock { $0.wall } }

    public func advance(by duration: Duration) {
        state.withLock { state in
            state.monotonic += duration
            state.wall.epochMilliseconds += Int64(duration / .milliseconds(1))
        }
    }

    public func setMinuteOfDay(_ minute: Int) {
        state.withLock { $0.wall.minuteOfDay = minute }
    }
}

/// A chime that records each strike with the monotonic time it happened.
public final class RecordingChime: ChimeOutput {
    private let strikes = Mutex<[ContinuousClock.Instant]>([])

    public init() {}

    public func strike() {
        strikes.withLock { $0.append(.now) }
    }

    public var count: Int { strikes.withLock { $0.count } }
    public var times: [ContinuousClock.Instant] { strikes.withLock { $0 } }
}

/// An output line that records the levels it was driven to.
public final class RecordingOutput: DigitalOutput {
    private let levels = Mutex<[Bool]>([])
    private let failure = Mutex<(any Error & Sendable)?>(nil)

    public init() {}

    public func set(active: Bool) throws {
        if let error = failure.withLock({ $0 }) { throw error }
        levels.withLock { $0.append(active) }
    }

    public func fail(with error: (any Error & Sendable)?) {
        failure.withLock { $0 = error }
    }

    public var history: [Bool] { levels.withLock { $0 } }
}

/// An event sink whose behaviour the test chooses: accept, fail, or hang until released.
public final class ScriptedEventSink: EventSink {
    public enum Behaviour: Sendable {
        case accept
        case fail
        case hang
    }

    public struct Refused: Error {}

    private struct State {
        var behaviour: Behaviour
        var delivered: [DoorbellEvent] = []
        var attempts = 0
        var hanging: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    public init(_ behaviour: Behaviour = .accept) {
        state = Mutex(State(behaviour: behaviour))
    }

    public func deliver(_ event: DoorbellEvent) async throws {
        let behaviour = state.withLock { state in
            state.attempts += 1
            return state.behaviour
        }
        switch behaviour {
        case .accept:
            state.withLock { $0.delivered.append(event) }
        case .fail:
            throw Refused()
        case .hang:
            await withCheckedContinuation { continuation in
                state.withLock { $0.hanging.append(continuation) }
            }
            throw Refused()
        }
    }

    /// Switches behaviour; hung deliveries are released (and fail, to be retried).
    public func become(_ behaviour: Behaviour) {
        let hung = state.withLock { state in
            state.behaviour = behaviour
            defer { state.hanging = [] }
            return state.hanging
        }
        for continuation in hung { continuation.resume() }
    }

    public var delivered: [DoorbellEvent] { state.withLock { $0.delivered } }
    public var attempts: Int { state.withLock { $0.attempts } }
}

/// A button whose edges the test pushes.
public final class ScriptedButton: ButtonSource {
    private let state = Mutex<AsyncThrowingStream<ButtonEdge, any Error>.Continuation?>(nil)
    private let openFailure = Mutex<(any Error & Sendable)?>(nil)
    private let opens = Mutex(0)

    public init() {}

    public func edges() throws -> AsyncThrowingStream<ButtonEdge, any Error> {
        if let error = openFailure.withLock({ $0 }) { throw error }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: ButtonEdge.self)
        state.withLock { $0 = continuation }
        opens.withLock { $0 += 1 }
        return stream
    }

    public func push(_ edge: ButtonEdge) {
        _ = state.withLock { $0?.yield(edge) }
    }

    /// Ends the current stream with `error`, as a vanished chip would.
    public func fail(_ error: any Error) {
        state.withLock { $0?.finish(throwing: error) }
    }

    public func failOpening(with error: (any Error & Sendable)?) {
        openFailure.withLock { $0 = error }
    }

    public var openCount: Int { opens.withLock { $0 } }
}

/// Access notes kept in memory, for tests that check what the doorbell recorded.
public final class RecordedAccess: AccessRecording {
    private let kept = Mutex<[AccessNote]>([])

    public init() {}

    public var notes: [AccessNote] { kept.withLock { $0 } }

    public func record(_ message: Logger.Message, _ note: AccessNote) {
        kept.withLock { $0.append(note) }
    }
}

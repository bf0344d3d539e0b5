import Synchronization

/// A mechanical chime behind a relay: the output goes active at once and inactive when the pulse
/// has passed on `clock`. A strike during a pulse extends it rather than chattering the relay.
/// The clock is injected so that tests assert the pulse's length exactly, by moving time, instead
/// of by a wall clock that a busy machine stretches.
public final class PulsedChime<C: Clock>: ChimeOutput where C.Duration == Duration {
    private struct State {
        /// When the relay goes off; nil while it is off.
        var offAt: C.Instant?
        var timerRunning = false
    }

    private let output: any DigitalOutput
    private let pulse: Duration
    private let clock: C
    private let onError: @Sendable (any Error) -> Void
    private let state = Mutex(State())

    /// `onError` hears about a relay that cannot be driven; it must not block.
    public init(
        output: any DigitalOutput, pulse: Duration, clock: C, onError: @escaping @Sendable (any Error) -> Void
    ) {
        self.output = output
        self.pulse = pulse
        self.clock = clock
        self.onError = onError
    }

    public func strike() {
        // The line is driven under the lock, so that a pulse ending now cannot switch the relay
        // off after this strike switched it on.
        let (failure, startTimer) = state.withLock { state -> ((any Error)?, Bool) in
            do { try output.set(active: true) } catch { return (error, false) }
            state.offAt = clock.now.advanced(by: pulse)
            defer { state.timerRunning = true }
            return (nil, !state.timerRunning)
        }
        if let failure { onError(failure) }
        if startTimer { Task { [self] in await switchOffWhenDue() } }
    }

    /// One timer per pulse: it sleeps to the pulse's end, and again if a strike moved the end.
    private func switchOffWhenDue() async {
        while true {
            guard let deadline = state.withLock({ $0.offAt }) else { return }
            // Cancelled (never, today): the relay goes off now rather than staying on.
            try? await clock.sleep(until: deadline, tolerance: nil)
            let (done, failure) = state.withLock { state -> (Bool, (any Error)?) in
                if let offAt = state.offAt, clock.now < offAt, !Task.isCancelled { return (false, nil) }
                state.offAt = nil
                state.timerRunning = false
                do { try output.set(active: false) } catch { return (true, error) }
                return (true, nil)
            }
            if let failure { onError(failure) }
            if done { return }
        }
    }
}

extension PulsedChime where C == ContinuousClock {
    /// A chime timed by the monotonic clock, as the daemon drives it.
    public convenience init(
        output: any DigitalOutput, pulse: Duration, onError: @escaping @Sendable (any Error) -> Void
    ) {
        self.init(output: output, pulse: pulse, clock: ContinuousClock(), onError: onError)
    }
}

/// Several chime outputs struck in order: the relay first, then the sound.
public struct ChimeGroup: ChimeOutput {
    private let outputs: [any ChimeOutput]

    public init(_ outputs: [any ChimeOutput]) {
        self.outputs = outputs
    }

    public func strike() {
        for output in outputs { output.strike() }
    }
}

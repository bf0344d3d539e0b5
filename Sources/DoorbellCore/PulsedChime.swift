import Dispatch
import Synchronization

/// Runs work once after a delay. The relay's switch-off is scheduled through it, so that tests
/// move time by hand and the daemon uses a timer that a busy cooperative thread pool cannot hold
/// back.
public protocol OneShotTimer: Sendable {
    func after(_ delay: Duration, _ work: @escaping @Sendable () -> Void)
}

/// A dispatch timer on a serial queue of its own. Dispatch serves such a queue from its own
/// threads, not from Swift's cooperative pool, so a pulse ends on time even while every pool
/// thread is busy (a debug build encoding JPEG on one core stretched a 300 ms pulse to 8 s).
public struct DispatchOneShotTimer: OneShotTimer {
    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: label, qos: .userInteractive)
    }

    public func after(_ delay: Duration, _ work: @escaping @Sendable () -> Void) {
        let microseconds = max(0, Int(delay / .microseconds(1)))
        queue.asyncAfter(deadline: .now() + .microseconds(microseconds), execute: work)
    }
}

/// A mechanical chime behind a relay: the output goes active at once and inactive when the pulse
/// has passed. A strike during a pulse extends it rather than chattering the relay.
public final class PulsedChime: ChimeOutput {
    private let output: any DigitalOutput
    private let pulse: Duration
    private let timer: any OneShotTimer
    private let onError: @Sendable (any Error) -> Void
    /// The latest strike; only its timer switches the relay off.
    private let generation = Mutex(0)

    /// `onError` hears about a relay that cannot be driven; it must not block.
    public init(
        output: any DigitalOutput, pulse: Duration,
        timer: any OneShotTimer = DispatchOneShotTimer(label: "porchlight.chime-relay"),
        onError: @escaping @Sendable (any Error) -> Void
    ) {
        self.output = output
        self.pulse = pulse
        self.timer = timer
        self.onError = onError
    }

    public func strike() {
        // The line is driven under the lock, so that a pulse ending now cannot switch the relay
        // off after this strike switched it on.
        let strike = generation.withLock { generation -> Result<Int, any Error> in
            do { try output.set(active: true) } catch { return .failure(error) }
            generation += 1
            return .success(generation)
        }
        switch strike {
        case .failure(let error): onError(error)
        case .success(let current): timer.after(pulse) { [self] in switchOff(ifLatest: current) }
        }
    }

    private func switchOff(ifLatest strike: Int) {
        let failure = generation.withLock { generation -> (any Error)? in
            guard generation == strike else { return nil }
            do { try output.set(active: false) } catch { return error }
            return nil
        }
        if let failure { onError(failure) }
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

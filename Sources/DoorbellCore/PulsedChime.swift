import Synchronization

/// A mechanical chime behind a relay: the output goes active at once and inactive after the pulse.
/// A strike during a pulse extends it rather than chattering the relay.
public final class PulsedChime: ChimeOutput {
    private let output: any DigitalOutput
    private let pulse: Duration
    private let onError: @Sendable (any Error) -> Void
    private let generation = Mutex(0)

    /// `onError` hears about a relay that cannot be driven; it must not block.
    public init(output: any DigitalOutput, pulse: Duration, onError: @escaping @Sendable (any Error) -> Void) {
        self.output = output
        self.pulse = pulse
        self.onError = onError
    }

    public func strike() {
        let current = generation.withLock { value -> Int in
            value += 1
            return value
        }
        do {
            try output.set(active: true)
        } catch {
            onError(error)
            return
        }
        Task { [self] in
            try? await Task.sleep(for: pulse)
            // Only the latest strike ends the pulse.
            guard generation.withLock({ $0 }) == current else { return }
            do { try output.set(active: false) } catch { onError(error) }
        }
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

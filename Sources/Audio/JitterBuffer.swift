import DoorbellCore

/// The owner's voice on its way to the speaker: frames arrive over the network late, early, out
/// of order or not at all, and leave one per 20 ms tick in order. The delay adapts to the
/// measured jitter (RFC 3550's estimator) between one frame and `maxDelay`; the buffer never
/// holds more than `maxDelay`, dropping its oldest frames instead. A lost frame is concealed by
/// repeating the previous one at half level once, then by silence; when the buffer runs dry it
/// refills to its target before playing on.
public struct JitterBuffer: Sendable {
    public enum Output: Sendable, Equatable {
        case frame
        case concealed
        case silence
    }

    public struct Statistics: Sendable, Equatable {
        public var received = 0
        public var played = 0
        public var concealed = 0
        /// Arrived after their turn to play had passed.
        public var late = 0
        /// Dropped to keep the delay bounded.
        public var dropped = 0
        public var underruns = 0
        public var maxDepth = 0
    }

    let maxFrames: Int
    private var frames: [UInt32: [Int16]] = [:]
    private var next: UInt32?
    private var playing = false
    private var last: [Int16]?
    private var concealedInRow = 0
    /// Jitter estimate in seconds, and the previous frame's transit time.
    private var jitter = 0.0
    private var lastTransit: Double?
    public private(set) var statistics = Statistics()

    public init(maxDelay: Duration) {
        maxFrames = max(2, Int(maxDelay / AudioFormat.frameDuration))
    }

    /// Frames held now.
    public var depth: Int { frames.count }

    /// How many frames to gather before playing: one frame plus three times the jitter.
    public var targetFrames: Int {
        let frame = 0.020
        return min(maxFrames, max(1, Int(((frame + 3 * jitter) / frame).rounded(.up))))
    }

    /// `arrival`: seconds on any steady clock.
    public mutating func put(sequence: UInt32, samples: [Int16], arrival: Double) {
        statistics.received += 1
        let transit = arrival - Double(sequence) * 0.020
        if let lastTransit { jitter += (abs(transit - lastTransit) - jitter) / 16 }
        lastTransit = transit
        if let next, Self.before(sequence, next) {
            statistics.late += 1
            return
        }
        frames[sequence] = samples
        while frames.count > maxFrames, let oldest = frames.keys.min(by: Self.before) {
            frames.removeValue(forKey: oldest)
            statistics.dropped += 1
            if next.map({ !Self.before(oldest, $0) }) ?? false { next = oldest &+ 1 }
        }
        statistics.maxDepth = max(statistics.maxDepth, frames.count)
    }

    /// The frame for this tick.
    public mutating func pull() -> (samples: [Int16], kind: Output) {
        let silence = [Int16](repeating: 0, count: AudioFormat.frameSamples)
        if !playing {
            guard frames.count >= targetFrames, let first = frames.keys.min(by: Self.before) else {
                return (silence, .silence)
            }
            // Resume at the oldest frame held, unless the expected one is there.
            if next.map({ frames[$0] == nil }) ?? true { next = first }
            playing = true
        }
        guard let expected = next else { return (silence, .silence) }
        // Playing well behind the target (the sender's clock is faster): catch up by one frame.
        if frames.count > targetFrames + 2, frames[expected] != nil {
            frames.removeValue(forKey: expected)
            statistics.dropped += 1
            next = expected &+ 1
            return pull()
        }
        if let samples = frames.removeValue(forKey: expected) {
            next = expected &+ 1
            last = samples
            concealedInRow = 0
            statistics.played += 1
            return (samples, .frame)
        }
        if frames.isEmpty {
            playing = false
            statistics.underruns += 1
            return (silence, .silence)
        }
        // Lost: later frames are here, this one is not.
        next = expected &+ 1
        statistics.concealed += 1
        concealedInRow += 1
        if concealedInRow == 1, let last { return (last.map { $0 / 2 }, .concealed) }
        return (silence, .concealed)
    }

    /// Sequence order that survives wrapping at 2³².
    static func before(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) < 0 }
}

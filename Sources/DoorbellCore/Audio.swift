import Synchronization

/// The daemon's one audio format: 16 kHz mono signed 16-bit, in 20 ms frames. Speech needs no
/// more, the echo canceller works on it directly, and ALSA's plug layer converts for hardware
/// that differs.
public enum AudioFormat {
    public static let sampleRate = 16_000
    public static let frameSamples = 320
    public static let frameDuration = Duration.milliseconds(20)
}

/// What the sound device must do now. The device is closed while nothing needs it, so the
/// microphone is open only during talk (or when the owner records audio in clips).
public enum AudioDemand: Sendable, Equatable {
    case none
    case playback
    /// Playback and capture in lockstep, one frame each per period.
    case duplex
}

/// The audio logic as the device thread sees it: asked for the next frame to play, handed each
/// captured frame together with the frame played at the same tick (the echo canceller's
/// reference). Called on the device's own thread, once per frame, so it must not block.
public protocol AudioFrameProcessor: AnyObject, Sendable {
    var demand: AudioDemand { get }
    /// The next `AudioFormat.frameSamples` samples to play; silence when there is nothing.
    func nextPlayback() -> [Int16]
    func captured(_ frame: [Int16], reference: [Int16])
    /// The device could not be opened or failed; queued sounds are dropped and a talk session ends.
    func deviceFailed(_ reason: String)
}

/// Wakes the device thread when the demand changes.
public protocol AudioDeviceWaker: Sendable {
    func wake()
}

/// Why a talk session or a quick reply was refused; `reason` is shown to the owner.
public struct AudioRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The doorbell's audio as the control channel uses it: talk sessions and quick replies.
public protocol DoorAudioControl: Sendable {
    /// The quick replies the owner can pick, by name.
    var quickReplies: [String] { get }
    /// Starts a talk session; its stream yields the door's microphone frames until the session
    /// ends (stopped, timed out, or the device failed). One session at a time.
    func startTalk(id: String, by owner: String) throws(AudioRefusal) -> AsyncStream<[Int16]>
    /// The owner's frame `sequence` for session `id`, into the jitter buffer.
    func receiveTalk(id: String, sequence: UInt32, samples: [Int16])
    func stopTalk(id: String)
    /// Queues a quick reply at the door.
    func playQuickReply(_ name: String) throws(AudioRefusal)
}

/// The microphone's last seconds, for clips, when the owner records audio in them
/// (`privacy.bystander_audio`; off by default, so that passers-by are not recorded). The door's
/// audio appends 20 ms chunks stamped with the monotonic time of their first sample, the clock of
/// camera frames; the camera pipeline reads what a clip needs, including its pre-roll.
public final class AudioRing: Sendable {
    public struct Chunk: Sendable, Equatable {
        public var samples: [Int16]
        /// CLOCK_MONOTONIC time of the first sample.
        public var timestamp: Duration

        public init(samples: [Int16], timestamp: Duration) {
            self.samples = samples
            self.timestamp = timestamp
        }
    }

    private let keep: Duration
    private let chunks = Mutex<[Chunk]>([])

    /// Keeps `keep` of audio (the pre-roll and some slack).
    public init(keep: Duration) {
        self.keep = keep
    }

    public func append(_ chunk: Chunk) {
        chunks.withLock { chunks in
            chunks.append(chunk)
            if let last = chunks.last, let drop = chunks.firstIndex(where: { last.timestamp - $0.timestamp <= keep }) {
                chunks.removeFirst(drop)
            }
        }
    }

    /// Chunks that start at or after `time`, oldest first.
    public func chunks(from time: Duration) -> [Chunk] {
        chunks.withLock { chunks in
            guard let start = chunks.firstIndex(where: { $0.timestamp >= time }) else { return [] }
            return Array(chunks[start...])
        }
    }
}

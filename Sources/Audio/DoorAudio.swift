import Config
import DoorbellCore
import Logging
import Synchronization

/// What the door's audio needs from the configuration, with its sounds already decoded.
public struct DoorAudioSettings: Sendable {
    public var chime: Sound?
    /// Percent of full scale for door sounds (chime and quick replies).
    public var volume = 80
    /// Quick replies in the order the config lists them.
    public var replies: [(name: String, sound: Sound)] = []
    public var echoTail = Duration.milliseconds(200)
    public var noiseSuppressionDB = -25
    public var jitterMax = Duration.milliseconds(200)
    public var halfDuplex = false
    public var talkMax = Duration.seconds(300)
    /// Where the microphone goes for clips when the owner records audio in them
    /// (`privacy.bystander_audio`); nil (the default) keeps the microphone closed except in talk.
    public var clipAudio: AudioRing?

    public init() {}

    /// Decodes the chime and every quick reply, so that a bad WAV stops the daemon at start (and
    /// `check-config`) with its key, instead of failing silently when a visitor rings.
    public init(config: Config) throws(ConfigProblem) {
        switch config.chime.sound {
        case .none: chime = nil
        case .builtin: chime = Sound.builtinChime
        case .file(let path):
            do { chime = try Sound(wavFile: path) } catch {
                throw ConfigProblem(key: "chime.sound", problem: "\(error)")
            }
        }
        volume = config.chime.volume
        for (index, reply) in config.audio.quickReplies.enumerated() {
            do { replies.append((reply.name, try Sound(wavFile: reply.file))) } catch {
                throw ConfigProblem(key: "audio.quick_replies[\(index)].file", problem: "\(error)")
            }
        }
        echoTail = .milliseconds(config.audio.echoTailMilliseconds)
        noiseSuppressionDB = config.audio.noiseSuppressionDB
        jitterMax = .milliseconds(config.audio.jitterMaxMilliseconds)
        halfDuplex = config.audio.halfDuplex
        talkMax = config.audio.talkMax
    }
}

/// A config value that is well-formed but unusable (a WAV that cannot be converted).
public struct ConfigProblem: Error, Sendable, CustomStringConvertible {
    public var key: String
    public var problem: String
    public var description: String { "\(key): \(problem)" }
}

/// The audio at the door: door sounds (the chime on a ring, quick replies) and talk sessions,
/// as one stream of frames to the speaker and, during talk, the echo-cancelled microphone to the
/// owner. The device thread pulls and pushes frames; the control channel starts and feeds talk.
/// All state sits behind one lock that is held for microseconds; the echo canceller runs outside
/// it, on the device thread only.
public final class DoorAudio: AudioFrameProcessor, DoorAudioControl, ChimeOutput {
    struct QueuedSound {
        var name: String
        var samples: [Int16]
        var position = 0
    }

    struct Talk {
        var id: String
        var owner: String
        /// On `clock`'s monotonic time.
        var started: Duration
        var jitter: JitterBuffer
        var uplink: AsyncStream<[Int16]>.Continuation
        /// Half duplex: ticks left during which the microphone stays muted after the owner spoke.
        var muted = 0
    }

    struct State {
        var sounds: [QueuedSound] = []
        var talk: Talk?
    }

    /// Echo canceller and noise suppressor, created and used on the device thread.
    final class Processing {
        var echo: EchoCanceller?
        var noise: NoiseSuppressor?
    }

    public let settings: DoorAudioSettings
    let logger: Logger
    private let state = Mutex(State())
    private let processing = Mutex(Processing())
    private let waker = Mutex<(any AudioDeviceWaker)?>(nil)
    /// Times the talk limit and the jitter buffer's arrivals; tests pass a `ManualClock`.
    private let clock: any DoorbellClock
    private let epoch: Duration

    public init(settings: DoorAudioSettings, logger: Logger, clock: any DoorbellClock = SystemClock()) {
        self.settings = settings
        self.logger = logger
        self.clock = clock
        epoch = clock.monotonicNow()
    }

    /// The device to wake when there is something to play or capture.
    public func attach(_ device: any AudioDeviceWaker) {
        waker.withLock { $0 = device }
    }

    // MARK: AudioFrameProcessor (the device thread)

    public var demand: AudioDemand {
        if settings.clipAudio != nil { return .duplex }
        return state.withLock { $0.talk != nil ? .duplex : $0.sounds.isEmpty ? .none : .playback }
    }

    public func nextPlayback() -> [Int16] {
        let now = clock.monotonicNow()
        var ended: (Talk, String)?
        let frame = state.withLock { state -> [Int16] in
            var frame = [Int16](repeating: 0, count: AudioFormat.frameSamples)
            if var talk = state.talk {
                if now - talk.started > settings.talkMax {
                    ended = (talk, "reached the time limit (audio.talk_max_s)")
                    state.talk = nil
                } else {
                    frame = talk.jitter.pull().samples
                    if settings.halfDuplex {
                        talk.muted = Self.rms(frame) > 500 ? 10 : max(0, talk.muted - 1)
                    }
                    state.talk = talk
                }
            }
            if var sound = state.sounds.first {
                let gain = Int32(settings.volume)
                for index in 0..<AudioFormat.frameSamples where sound.position + index < sound.samples.count {
                    let mixed = Int32(frame[index]) + Int32(sound.samples[sound.position + index]) * gain / 100
                    frame[index] = Int16(clamping: mixed)
                }
                sound.position += AudioFormat.frameSamples
                if sound.position >= sound.samples.count {
                    state.sounds.removeFirst()
                } else {
                    state.sounds[0] = sound
                }
            }
            return frame
        }
        if let (talk, reason) = ended { finish(talk, reason: reason) }
        return frame
    }

    public func captured(_ frame: [Int16], reference: [Int16]) {
        let recorded = SystemClock().monotonicNow() - AudioFormat.frameDuration
        let talk = state.withLock { state in state.talk.map { (uplink: $0.uplink, muted: $0.muted > 0) } }
        guard talk != nil || settings.clipAudio != nil else { return }
        // speexdsp's preprocessor delays its output by one frame; the clip's timestamps account for it.
        let (processed, delayed) = processing.withLock { processing -> ([Int16], Bool) in
            if settings.halfDuplex || talk == nil {
                if processing.noise == nil { processing.noise = NoiseSuppressor(db: settings.noiseSuppressionDB) }
                let clean = processing.noise!.process(frame)
                let muted = talk?.muted ?? false
                return (muted ? [Int16](repeating: 0, count: frame.count) : clean, settings.noiseSuppressionDB < 0)
            }
            if processing.echo == nil {
                processing.echo = EchoCanceller(
                    tail: settings.echoTail, noiseSuppressionDB: settings.noiseSuppressionDB)
            }
            return (processing.echo!.process(captured: frame, played: reference), true)
        }
        talk?.uplink.yield(processed)
        settings.clipAudio?.append(
            AudioRing.Chunk(samples: processed, timestamp: recorded - (delayed ? AudioFormat.frameDuration : .zero)))
    }

    public func deviceFailed(_ reason: String) {
        let (dropped, talk) = state.withLock { state in
            defer {
                state.sounds = []
                state.talk = nil
            }
            return (state.sounds.map(\.name), state.talk)
        }
        if !dropped.isEmpty {
            logger.warning(
                "Door sounds dropped: the sound device failed.",
                metadata: ["sounds": "\(dropped.joined(separator: ", "))", LogKey.error: "\(reason)"])
        }
        if let talk { finish(talk, reason: "the sound device failed: \(reason)") }
    }

    // MARK: ChimeOutput

    /// Queues the chime sound; a chime already playing is not restarted. Never blocks.
    public func strike() {
        guard let chime = settings.chime else { return }
        let queued = state.withLock { state -> Bool in
            guard !state.sounds.contains(where: { $0.name == "chime" }) else { return false }
            state.sounds.append(QueuedSound(name: "chime", samples: chime.samples))
            return true
        }
        if queued { waker.withLock { $0 }?.wake() }
    }

    // MARK: DoorAudioControl

    public var quickReplies: [String] { settings.replies.map(\.name) }

    public func playQuickReply(_ name: String) throws(AudioRefusal) {
        guard let reply = settings.replies.first(where: { $0.name == name }) else {
            throw AudioRefusal("there is no quick reply named \"\(name)\"")
        }
        try state.withLock { state throws(AudioRefusal) in
            guard state.sounds.count < 3 else { throw AudioRefusal("the door is already playing sounds; try again") }
            state.sounds.append(QueuedSound(name: "reply: \(name)", samples: reply.sound.samples))
        }
        logger.info("Quick reply queued at the door.", metadata: ["reply": "\(name)"])
        waker.withLock { $0 }?.wake()
    }

    public func startTalk(id: String, by owner: String) throws(AudioRefusal) -> AsyncStream<[Int16]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [Int16].self, bufferingPolicy: .bufferingNewest(25))
        try state.withLock { state throws(AudioRefusal) in
            if let talk = state.talk {
                let seconds = (clock.monotonicNow() - talk.started) / .seconds(1)
                throw AudioRefusal("another talk session is running (started \(Int(seconds)) s ago by \(talk.owner))")
            }
            state.talk = Talk(
                id: id, owner: owner, started: clock.monotonicNow(), jitter: JitterBuffer(maxDelay: settings.jitterMax),
                uplink: continuation)
        }
        logger.notice(
            "Talk session started.",
            metadata: [
                "talk_id": "\(id)", "owner": "\(owner)",
                "mode": "\(settings.halfDuplex ? "half duplex" : "full duplex")",
            ])
        continuation.onTermination = { [weak self] _ in self?.stopTalk(id: id) }
        waker.withLock { $0 }?.wake()
        return stream
    }

    public func receiveTalk(id: String, sequence: UInt32, samples: [Int16]) {
        guard samples.count == AudioFormat.frameSamples else { return }
        let arrival = Double((clock.monotonicNow() - epoch) / .microseconds(1)) / 1e6
        state.withLock { state in
            guard state.talk?.id == id else { return }
            state.talk?.jitter.put(sequence: sequence, samples: samples, arrival: arrival)
        }
    }

    public func stopTalk(id: String) {
        let talk = state.withLock { state -> Talk? in
            guard state.talk?.id == id else { return nil }
            defer { state.talk = nil }
            return state.talk
        }
        if let talk { finish(talk, reason: "stopped") }
    }

    /// The jitter buffer's counters for the running session, for tests and the benchmark.
    public var talkStatistics: JitterBuffer.Statistics? { state.withLock { $0.talk?.jitter.statistics } }

    private func finish(_ talk: Talk, reason: String) {
        talk.uplink.finish()
        let stats = talk.jitter.statistics
        logger.notice(
            "Talk session ended.",
            metadata: [
                "talk_id": "\(talk.id)", "owner": "\(talk.owner)", "reason": "\(reason)",
                "duration_s": "\((clock.monotonicNow() - talk.started) / .seconds(1))",
                "frames_received": "\(stats.received)", "frames_played": "\(stats.played)",
                "frames_concealed": "\(stats.concealed)",
                "frames_late": "\(stats.late)", "frames_dropped": "\(stats.dropped)", "underruns": "\(stats.underruns)",
            ])
    }

    static func rms(_ frame: [Int16]) -> Double {
        var sum = 0.0
        for sample in frame { sum += Double(sample) * Double(sample) }
        return (sum / Double(max(1, frame.count))).squareRoot()
    }
}

extension DoorAudioSettings {
    /// The door's audio for `config`, its sounds decoded once (nil when audio is off). A WAV that
    /// cannot be played is a configuration error with its key and the fix.
    public static func load(_ config: Config, file: String) throws(ConfigErrors) -> DoorAudioSettings? {
        guard config.audio.enabled else { return nil }
        do {
            return try DoorAudioSettings(config: config)
        } catch {
            throw ConfigErrors([
                ConfigError(
                    file: file, keyPath: error.key, message: error.problem,
                    hint: "convert it to 16-bit PCM WAV, e.g. `sox in.wav -r 16000 -c 1 -b 16 out.wav`")
            ])
        }
    }

    /// The configuration's sound files checked the way the daemon loads them (for a check or a
    /// reload); empty when all play or audio is off.
    public static func problems(in config: Config, file: String) -> [ConfigError] {
        do {
            _ = try load(config, file: file)
            return []
        } catch {
            return error.errors
        }
    }
}

import CALSA
import DoorbellCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The sound card, driven by one dedicated thread that owns the ALSA handles. The thread sleeps
/// while the door is quiet, with the device closed (so the microphone is open only when something
/// needs it), and runs one 20 ms frame per period while it plays or talks: the next frame to the
/// speaker, then, in duplex, one frame from the microphone with the played frame as the echo
/// reference. A device that fails or vanishes is closed, reported as degraded and reopened with
/// backoff; queued sounds are dropped rather than played late.
public final class ALSAAudioDevice: Service, AudioDeviceWaker {
    public struct Settings: Sendable {
        public var playbackDevice: String
        public var captureDevice: String
        public var period: Duration
        public var buffer: Duration
        public var retry: ClosedRange<Duration>

        public init(
            playbackDevice: String, captureDevice: String, period: Duration = .milliseconds(20),
            buffer: Duration = .milliseconds(80), retry: ClosedRange<Duration> = .seconds(1)...(.seconds(30))
        ) {
            self.playbackDevice = playbackDevice
            self.captureDevice = captureDevice
            self.period = period
            self.buffer = buffer
            self.retry = retry
        }
    }

    let settings: Settings
    let processor: any AudioFrameProcessor
    let health: HealthReporter
    let logger: Logger
    let faults: FaultLimiter
    let calls: ALSACalls
    private let signal = NSCondition()
    private let stopping = Atomic<Bool>(false)
    private let xrunCount = Atomic<Int>(0)

    public init(
        settings: Settings, processor: any AudioFrameProcessor, health: HealthReporter, logger: Logger,
        faults: FaultLimiter, calls: ALSACalls = .real
    ) {
        self.settings = settings
        self.processor = processor
        self.health = health
        self.logger = logger
        self.faults = faults
        self.calls = calls
    }

    /// Xruns recovered since start.
    public var xruns: Int { xrunCount.load(ordering: .relaxed) }

    public func wake() {
        signal.lock()
        signal.signal()
        signal.unlock()
    }

    public func run() async throws {
        let (finished, done) = AsyncStream.makeStream(of: Void.self)
        let thread = Thread { [self] in
            loop()
            done.finish()
        }
        thread.name = "porchlight-audio"
        thread.start()
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                for await _ in finished {}
            } onCancel: {
                self.stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    private func stop() {
        stopping.store(true, ordering: .relaxed)
        wake()
    }

    /// Sleeps until woken or `deadline`.
    private func sleep(until deadline: ContinuousClock.Instant) {
        let left = deadline - .now
        guard left > .zero else { return }
        signal.lock()
        if !stopping.load(ordering: .relaxed) {
            _ = signal.wait(until: Date(timeIntervalSinceNow: Double(left / .microseconds(1)) / 1e6))
        }
        signal.unlock()
    }

    /// The open streams and the pacing that keeps a device without its own clock (a file PCM, the
    /// null device) at real time. Real hardware paces itself by blocking; this only ever waits
    /// when the writes run further ahead than the buffer.
    private struct Open {
        var playback: PCM
        var capture: PCM?
        var started = ContinuousClock.now
        var frames = 0
    }

    private func loop() {
        var open: Open?
        var failure: String?
        var retryAt: ContinuousClock.Instant?
        var backoff = Backoff(settings.retry)
        var captured = [Int16](repeating: 0, count: AudioFormat.frameSamples)
        porchlight_alsa_quiet_this_thread()
        health.checkIn(.ok)
        while !stopping.load(ordering: .relaxed) {
            let demand = processor.demand
            let now = ContinuousClock.now
            if let due = retryAt {
                // Failed: drop what asks for the device until the retry, then try to reopen.
                if demand != .none { processor.deviceFailed(failure ?? "the sound device is unavailable") }
                if now < due {
                    health.checkIn(.degraded(failure ?? "sound device unavailable"))
                    sleep(until: min(due, now + .seconds(1)))
                    continue
                }
            }
            if demand == .none && retryAt == nil {
                if let current = open {
                    drain(current.playback)
                    open = nil
                }
                health.checkIn(.ok)
                sleep(until: now + .seconds(1))
                continue
            }
            do throws(AudioDeviceError) {
                if open == nil { open = Open(playback: try openPCM(settings.playbackDevice, .playback)) }
                if demand == .duplex, open?.capture == nil {
                    open?.capture = try openPCM(settings.captureDevice, .capture)
                    // One period of silence keeps the speaker from running dry while the
                    // microphone fills its first period.
                    try open?.playback.write([Int16](repeating: 0, count: AudioFormat.frameSamples))
                    open?.started = .now
                    open?.frames = 0
                } else if demand != .duplex {
                    open?.capture = nil
                }
                if retryAt != nil {
                    logger.notice("Sound device back.", metadata: ["device": "\(settings.playbackDevice)"])
                    faults.clear("audio")
                    retryAt = nil
                    failure = nil
                    backoff.reset()
                    if demand == .none { continue }
                }
                guard var current = open else { continue }
                let frame = processor.nextPlayback()
                try current.playback.write(frame)
                current.frames += 1
                pace(&current)
                if let capture = current.capture {
                    try capture.read(into: &captured)
                    processor.captured(captured, reference: frame)
                }
                open = current
                if current.frames % 50 == 0 { health.checkIn(.ok) }
            } catch {
                open = nil
                failure = error.description
                let wait = backoff.next()
                retryAt = .now + wait
                logger.fault(
                    "Sound device failed; retrying.", key: "audio", limiter: faults, level: .error,
                    metadata: [LogKey.error: "\(error)", "retry_s": "\(wait / .seconds(1))"])
                health.checkIn(.degraded(error.description))
                processor.deviceFailed(error.description)
            }
        }
        if let playback = open?.playback { drain(playback) }
    }

    /// Lets the last sound play out as the device closes; one that cannot is cut short, and said so.
    private func drain(_ playback: PCM) {
        if let error = playback.drain() {
            logger.info("The door's last sound was cut short.", metadata: [LogKey.error: "\(error)"])
        }
    }

    private func openPCM(_ device: String, _ direction: PCM.Direction) throws(AudioDeviceError) -> PCM {
        let pcm = try PCM(
            device: device, direction: direction, period: settings.period, buffer: settings.buffer, calls: calls)
        pcm.onXrun = { [self] error in
            xrunCount.add(1, ordering: .relaxed)
            logger.fault(
                "Sound device xrun recovered.", key: "audio.xrun.\(direction.rawValue)", limiter: faults,
                metadata: [LogKey.error: "\(error)"])
        }
        logger.info(
            "Sound device open.",
            metadata: [
                "device": "\(device)", "direction": "\(direction.rawValue)", "rate": "\(pcm.rate)",
                "period_frames": "\(pcm.periodFrames)", "buffer_frames": "\(pcm.bufferFrames)",
            ])
        return pcm
    }

    /// Keeps a device without its own clock at real time. Capture cannot run ahead of the clock:
    /// in duplex each frame waits until it could have been recorded, as a real microphone makes
    /// the read block. Playback alone may run ahead by the buffer, as a real device accepts that
    /// much before a write blocks. On real hardware the blocking calls keep the loop behind these
    /// marks, so this never waits.
    private func pace(_ open: inout Open) {
        let due = open.started + AudioFormat.frameDuration * open.frames
        let allowance = open.capture == nil ? settings.buffer : .zero
        let ahead = due - .now
        if ahead > allowance {
            Thread.sleep(forTimeInterval: Double((ahead - allowance) / .microseconds(1)) / 1e6)
        } else if ahead < .zero - settings.buffer * 4 {
            // Far behind (a stall): start counting again rather than rushing to catch up.
            open.started = .now
            open.frames = 0
        }
    }
}

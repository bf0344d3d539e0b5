import CALSA
import DoorbellCore

#if canImport(Glibc)
    import Glibc
#endif

/// The libasound calls that can fail at run time, as a seam: tests inject an xrun or a vanished
/// device through it, and everything else goes to the real library.
public struct ALSACalls: Sendable {
    public var open: @Sendable (_ name: String, _ stream: snd_pcm_stream_t) -> (OpaquePointer?, Int32)
    public var writei: @Sendable (OpaquePointer, UnsafeRawPointer, Int) -> Int
    public var readi: @Sendable (OpaquePointer, UnsafeMutableRawPointer, Int) -> Int
    public var recover: @Sendable (OpaquePointer, Int32) -> Int32

    public init(
        open: @escaping @Sendable (String, snd_pcm_stream_t) -> (OpaquePointer?, Int32),
        writei: @escaping @Sendable (OpaquePointer, UnsafeRawPointer, Int) -> Int,
        readi: @escaping @Sendable (OpaquePointer, UnsafeMutableRawPointer, Int) -> Int,
        recover: @escaping @Sendable (OpaquePointer, Int32) -> Int32
    ) {
        self.open = open
        self.writei = writei
        self.readi = readi
        self.recover = recover
    }

    public static let real = ALSACalls(
        open: { name, stream in
            var pcm: OpaquePointer?
            let result = snd_pcm_open(&pcm, name, stream, SND_PCM_NONBLOCK)
            return (pcm, result)
        },
        writei: { pcm, buffer, frames in snd_pcm_writei(pcm, buffer, snd_pcm_uframes_t(frames)) },
        readi: { pcm, buffer, frames in snd_pcm_readi(pcm, buffer, snd_pcm_uframes_t(frames)) },
        recover: { pcm, error in snd_pcm_recover(pcm, error, 1) })
}

/// An ALSA failure: the action, the device, the call and the cause, e.g. `cannot write to
/// playback device "plughw:1,0" (snd_pcm_writei): No such device`.
public struct AudioDeviceError: Error, Sendable, CustomStringConvertible {
    public var action: String
    public var device: String
    public var call: String
    public var code: Int32

    public var description: String {
        "cannot \(action) \"\(device)\" (\(call)): \(String(cString: snd_strerror(code)))"
    }
}

/// One open PCM in the daemon's format (16 kHz mono S16_LE, ALSA's plug layer converting for
/// hardware that differs), non-blocking, with waits that time out so that a wedged device is
/// noticed instead of hanging the thread. Xruns are recovered and counted; used on one thread.
final class PCM {
    enum Direction: String {
        case playback
        case capture
    }

    let device: String
    let direction: Direction
    let calls: ALSACalls
    private let handle: OpaquePointer
    /// What ALSA granted, in frames.
    private(set) var periodFrames = 0
    private(set) var bufferFrames = 0
    private(set) var rate = 0
    private(set) var xruns = 0
    /// Hears each recovered xrun (for rate-limited logging).
    var onXrun: (AudioDeviceError) -> Void = { _ in }

    init(device: String, direction: Direction, period: Duration, buffer: Duration, calls: ALSACalls)
        throws(AudioDeviceError)
    {
        self.device = device
        self.direction = direction
        self.calls = calls
        let label = "open \(direction.rawValue) device"
        let (pcm, opened) = calls.open(
            device, direction == .playback ? SND_PCM_STREAM_PLAYBACK : SND_PCM_STREAM_CAPTURE)
        guard opened >= 0, let pcm else {
            throw AudioDeviceError(action: label, device: device, call: "snd_pcm_open", code: opened)
        }
        handle = pcm
        do {
            try configure(period: period, buffer: buffer)
        } catch {
            snd_pcm_close(pcm)
            throw error
        }
    }

    deinit {
        snd_pcm_close(handle)
    }

    private func check(_ result: Int32, _ call: String) throws(AudioDeviceError) {
        guard result >= 0 else {
            throw AudioDeviceError(
                action: "configure \(direction.rawValue) device", device: device, call: call, code: result)
        }
    }

    private func configure(period: Duration, buffer: Duration) throws(AudioDeviceError) {
        var hw: OpaquePointer?
        try check(snd_pcm_hw_params_malloc(&hw), "snd_pcm_hw_params_malloc")
        defer { snd_pcm_hw_params_free(hw) }
        try check(snd_pcm_hw_params_any(handle, hw), "snd_pcm_hw_params_any")
        try check(
            snd_pcm_hw_params_set_access(handle, hw, SND_PCM_ACCESS_RW_INTERLEAVED), "snd_pcm_hw_params_set_access")
        try check(snd_pcm_hw_params_set_format(handle, hw, SND_PCM_FORMAT_S16_LE), "snd_pcm_hw_params_set_format")
        try check(snd_pcm_hw_params_set_channels(handle, hw, 1), "snd_pcm_hw_params_set_channels")
        var rate = UInt32(AudioFormat.sampleRate)
        try check(snd_pcm_hw_params_set_rate_near(handle, hw, &rate, nil), "snd_pcm_hw_params_set_rate_near")
        guard rate == UInt32(AudioFormat.sampleRate) else {
            throw AudioDeviceError(
                action: "set 16 kHz on \(direction.rawValue) device (got \(rate) Hz; use a plug: device)",
                device: device, call: "snd_pcm_hw_params_set_rate_near", code: -EINVAL)
        }
        var periodSize = snd_pcm_uframes_t(AudioFormat.sampleRate * Int(period / .milliseconds(1)) / 1000)
        var bufferSize = snd_pcm_uframes_t(AudioFormat.sampleRate * Int(buffer / .milliseconds(1)) / 1000)
        try check(
            snd_pcm_hw_params_set_period_size_near(handle, hw, &periodSize, nil),
            "snd_pcm_hw_params_set_period_size_near")
        try check(
            snd_pcm_hw_params_set_buffer_size_near(handle, hw, &bufferSize), "snd_pcm_hw_params_set_buffer_size_near")
        try check(snd_pcm_hw_params(handle, hw), "snd_pcm_hw_params")
        periodFrames = Int(periodSize)
        bufferFrames = Int(bufferSize)
        self.rate = Int(rate)

        var sw: OpaquePointer?
        try check(snd_pcm_sw_params_malloc(&sw), "snd_pcm_sw_params_malloc")
        defer { snd_pcm_sw_params_free(sw) }
        try check(snd_pcm_sw_params_current(handle, sw), "snd_pcm_sw_params_current")
        // Playback starts as soon as one period is queued: latency stays at about a period.
        let start = direction == .playback ? periodSize : 1
        try check(
            snd_pcm_sw_params_set_start_threshold(handle, sw, start), "snd_pcm_sw_params_set_start_threshold")
        try check(snd_pcm_sw_params_set_avail_min(handle, sw, periodSize), "snd_pcm_sw_params_set_avail_min")
        try check(snd_pcm_sw_params(handle, sw), "snd_pcm_sw_params")
        try check(snd_pcm_prepare(handle), "snd_pcm_prepare")
    }

    /// Writes all of `samples`, waiting for room and recovering xruns.
    func write(_ samples: [Int16]) throws(AudioDeviceError) {
        var done = 0
        while done < samples.count {
            let result = samples.withUnsafeBytes { bytes in
                calls.writei(handle, bytes.baseAddress! + done * 2, samples.count - done)
            }
            done += try progress(result, action: "write to playback device", call: "snd_pcm_writei")
        }
    }

    /// Fills `samples`, waiting for data and recovering xruns.
    func read(into samples: inout [Int16]) throws(AudioDeviceError) {
        var done = 0
        while done < samples.count {
            let count = samples.count
            let result = samples.withUnsafeMutableBytes { bytes in
                calls.readi(handle, bytes.baseAddress! + done * 2, count - done)
            }
            done += try progress(result, action: "read from capture device", call: "snd_pcm_readi")
        }
    }

    /// Frames moved by one call, or 0 after waiting or recovering. An xrun (EPIPE) or a resume
    /// after suspend (ESTRPIPE) goes through `snd_pcm_recover`; anything else, or a device that
    /// stays silent for two seconds, is thrown.
    private func progress(_ result: Int, action: String, call: String) throws(AudioDeviceError) -> Int {
        if result >= 0 { return result }
        let code = Int32(result)
        switch -code {
        case EAGAIN:
            let waited = snd_pcm_wait(handle, 2000)
            if waited == 0 {
                throw AudioDeviceError(
                    action: action + " (no progress for 2 s)", device: device, call: "snd_pcm_wait", code: -ETIMEDOUT)
            }
            if waited < 0 { try recover(Int32(waited), action: action, call: "snd_pcm_wait") }
            return 0
        case EINTR:
            return 0
        case EPIPE, ESTRPIPE:
            try recover(code, action: action, call: call)
            return 0
        default:
            throw AudioDeviceError(action: action, device: device, call: call, code: code)
        }
    }

    private func recover(_ code: Int32, action: String, call: String) throws(AudioDeviceError) {
        let failure = AudioDeviceError(action: action, device: device, call: call, code: code)
        let recovered = calls.recover(handle, code)
        guard recovered >= 0 else {
            throw AudioDeviceError(action: action, device: device, call: "snd_pcm_recover", code: recovered)
        }
        xruns += 1
        onXrun(failure)
    }

    /// Lets queued playback finish (blocking briefly), then stops. The error, when the device could
    /// not wait: what was queued is then cut short.
    func drain() -> AudioDeviceError? {
        let blocking = snd_pcm_nonblock(handle, 0)
        guard blocking >= 0 else {
            return AudioDeviceError(action: "drain", device: device, call: "snd_pcm_nonblock", code: blocking)
        }
        let code = snd_pcm_drain(handle)
        return code < 0 ? AudioDeviceError(action: "drain", device: device, call: "snd_pcm_drain", code: code) : nil
    }

    /// Frames queued but not yet heard (playback) or captured but not yet read; 0 when unknown.
    var delayFrames: Int {
        var delay: snd_pcm_sframes_t = 0
        return snd_pcm_delay(handle, &delay) >= 0 ? Int(delay) : 0
    }
}

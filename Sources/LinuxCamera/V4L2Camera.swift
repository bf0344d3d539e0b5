internal import CV4L2
import DoorbellCore
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// What the driver granted, which may differ from what was asked.
public struct GrantedFormat: Sendable, Equatable, CustomStringConvertible {
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    /// Frames per second, if the driver reports a frame interval.
    public var fps: Double?
    public var buffers: Int

    public var description: String {
        "\(width)×\(height) \(format == .mjpeg ? "MJPEG" : "YUYV")"
            + (fps.map { " at \(Double(Int($0 * 10)) / 10) fps" } ?? "") + ", \(buffers) buffers"
    }
}

/// A V4L2 camera through libv4l2: capabilities checked, the format negotiated (MJPEG preferred,
/// YUYV as the fallback, or as configured), the frame rate asked for, and mmap streaming with at
/// least four buffers. A dedicated thread polls the device, dequeues each buffer, copies its bytes
/// out with the driver's timestamp and requeues it at once. Unplugging ends the stream with an
/// error (ENODEV); the camera pipeline reconnects.
public struct V4L2Camera: FrameSource {
    public typealias Preference = PixelFormatPreference

    let device: String
    let preference: Preference
    let width: Int
    let height: Int
    let fps: Int
    let buffers: Int
    let logger: Logger
    let calls: V4L2Calls

    public init(
        device: String, preference: Preference, width: Int, height: Int, fps: Int, buffers: Int, logger: Logger
    ) {
        self.init(
            device: device, preference: preference, width: width, height: height, fps: fps, buffers: buffers,
            logger: logger, calls: .libv4l2)
    }

    init(
        device: String, preference: Preference, width: Int, height: Int, fps: Int, buffers: Int, logger: Logger,
        calls: V4L2Calls
    ) {
        self.device = device
        self.preference = preference
        self.width = width
        self.height = height
        self.fps = fps
        self.buffers = max(4, buffers)
        self.logger = logger
        self.calls = calls
    }

    public func frames() throws -> AsyncThrowingStream<Frame, any Error> {
        let session = try open()
        logger.notice("Camera opened.", metadata: ["device": "\(device)", "format": "\(session.granted)"])
        let wake: Int32
        switch valueOrErrno({ eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK)) }) {
        case .success(let value): wake = value
        case .failure(let failure):
            // The error number is kept before closing, which can set another.
            session.close()
            throw V4L2Error(action: "create a wake-up descriptor for", device: device, errno: failure.code)
        }
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: Frame.self, bufferingPolicy: .bufferingNewest(2))
        continuation.onTermination = { _ in
            var one: UInt64 = 1
            _ = write(wake, &one, MemoryLayout<UInt64>.size)
        }
        let reader = Thread {
            session.stream(wake: wake, into: continuation)
            session.close()
            Glibc.close(wake)
        }
        reader.name = "v4l2-capture"
        reader.start()
        return stream
    }

    /// Opens, negotiates and starts streaming; on any failure releases what it took.
    func open() throws(V4L2Error) -> V4L2Session {
        let fd: Int32
        switch valueOrErrno({ calls.open(device, O_RDWR | O_NONBLOCK | O_CLOEXEC) }) {
        case .success(let value): fd = value
        case .failure(let failure): throw V4L2Error(action: "open camera", device: device, errno: failure.code)
        }
        let session = V4L2Session(calls: calls, fd: fd, device: device)
        do {
            try session.checkCapabilities()
            let format = try session.chooseFormat(preference)
            try session.setFormat(format, width: width, height: height)
            session.setFrameRate(fps)
            try session.mapBuffers(count: buffers)
            try session.start()
            return session
        } catch {
            session.close()
            throw error
        }
    }
}

/// One open camera: its descriptor, mapped buffers and granted format. Used by one thread at a
/// time (the opener, then the capture thread).
final class V4L2Session: @unchecked Sendable {
    let calls: V4L2Calls
    let fd: Int32
    let device: String
    var granted = GrantedFormat(format: .mjpeg, width: 0, height: 0, fps: nil, buffers: 0)
    private var buffers: [(address: UnsafeMutableRawPointer, length: Int)] = []
    private var streaming = false
    private var closed = false
    private let captureType = UInt32(V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue)

    init(calls: V4L2Calls, fd: Int32, device: String) {
        self.calls = calls
        self.fd = fd
        self.device = device
    }

    func checkCapabilities() throws(V4L2Error) {
        var capabilities = v4l2_capability()
        try calls.request(.queryCapabilities, fd, &capabilities, "query the capabilities of", device)
        let caps =
            capabilities.capabilities & UInt32(V4L2_CAP_DEVICE_CAPS) != 0
            ? capabilities.device_caps : capabilities.capabilities
        guard caps & UInt32(V4L2_CAP_VIDEO_CAPTURE) != 0, caps & UInt32(V4L2_CAP_STREAMING) != 0 else {
            throw V4L2Error(
                action: "use", device: device, request: nil, errno: ENOTTY,
                detail: "not a video capture device with streaming I/O (is it the metadata node?)")
        }
    }

    /// MJPEG if the camera offers it (it is smaller and masking it needs no decode), else YUYV.
    func chooseFormat(_ preference: V4L2Camera.Preference) throws(V4L2Error) -> PixelFormat {
        var offered: [UInt32] = []
        for index in 0..<64 {
            var description = v4l2_fmtdesc()
            description.index = UInt32(index)
            description.type = captureType
            do {
                try calls.request(.enumerateFormats, fd, &description, "list the formats of", device)
            } catch  where error.errno == EINVAL {
                break  // the end of the list
            }
            offered.append(description.pixelformat)
        }
        let mjpeg =
            offered.contains(porchlight_V4L2_PIX_FMT_MJPEG()) || offered.contains(porchlight_V4L2_PIX_FMT_JPEG())
        let yuyv = offered.contains(porchlight_V4L2_PIX_FMT_YUYV())
        switch preference {
        case .mjpeg where mjpeg, .auto where mjpeg: return .mjpeg
        case .yuyv where yuyv, .auto where yuyv: return .yuyv
        default:
            let names = offered.map(fourcc).joined(separator: ", ")
            throw V4L2Error(
                action: "find a usable format on", device: device, request: nil, errno: EINVAL,
                detail: "it offers \(names.isEmpty ? "no formats" : names); Porchlight reads MJPEG or YUYV")
        }
    }

    func setFormat(_ format: PixelFormat, width: Int, height: Int) throws(V4L2Error) {
        var request = v4l2_format()
        request.type = captureType
        request.fmt.pix.width = UInt32(width)
        request.fmt.pix.height = UInt32(height)
        request.fmt.pix.pixelformat =
            format == .mjpeg ? porchlight_V4L2_PIX_FMT_MJPEG() : porchlight_V4L2_PIX_FMT_YUYV()
        request.fmt.pix.field = UInt32(V4L2_FIELD_ANY.rawValue)
        try calls.request(.setFormat, fd, &request, "set the format of", device)
        let grantedFormat = request.fmt.pix.pixelformat
        let isMJPEG =
            grantedFormat == porchlight_V4L2_PIX_FMT_MJPEG() || grantedFormat == porchlight_V4L2_PIX_FMT_JPEG()
        guard isMJPEG || grantedFormat == porchlight_V4L2_PIX_FMT_YUYV() else {
            throw V4L2Error(
                action: "set the format of", device: device, request: "VIDIOC_S_FMT", errno: EINVAL,
                detail: "the driver granted \(fourcc(grantedFormat)) instead")
        }
        granted.format = isMJPEG ? .mjpeg : .yuyv
        granted.width = Int(request.fmt.pix.width)
        granted.height = Int(request.fmt.pix.height)
    }

    /// Asks for `fps`; a driver without frame-rate control keeps its own, which is fine.
    func setFrameRate(_ fps: Int) {
        var parameters = v4l2_streamparm()
        parameters.type = captureType
        parameters.parm.capture.timeperframe = v4l2_fract(numerator: 1, denominator: UInt32(fps))
        guard (try? calls.request(.setParameters, fd, &parameters, "set the frame rate of", device)) != nil else {
            return
        }
        let interval = parameters.parm.capture.timeperframe
        if interval.numerator > 0 { granted.fps = Double(interval.denominator) / Double(interval.numerator) }
    }

    func mapBuffers(count: Int) throws(V4L2Error) {
        var request = v4l2_requestbuffers()
        request.count = UInt32(count)
        request.type = captureType
        request.memory = UInt32(V4L2_MEMORY_MMAP.rawValue)
        try calls.request(.requestBuffers, fd, &request, "request buffers on", device)
        guard request.count >= 2 else {
            throw V4L2Error(
                action: "request buffers on", device: device, request: "VIDIOC_REQBUFS", errno: ENOMEM,
                detail: "the driver granted \(request.count) buffers; streaming needs at least 2")
        }
        for index in 0..<request.count {
            var buffer = v4l2_buffer()
            buffer.index = index
            buffer.type = captureType
            buffer.memory = UInt32(V4L2_MEMORY_MMAP.rawValue)
            try calls.request(.queryBuffer, fd, &buffer, "query buffer \(index) of", device)
            let address: UnsafeMutableRawPointer
            switch pointerOrErrno({ calls.map(fd, Int(buffer.length), Int64(buffer.m.offset)) }) {
            case .success(let mapped): address = mapped
            case .failure(let failure):
                throw V4L2Error(action: "map buffer \(index) of", device: device, request: "mmap", errno: failure.code)
            }
            buffers.append((address, Int(buffer.length)))
        }
        granted.buffers = buffers.count
    }

    func start() throws(V4L2Error) {
        for index in buffers.indices { try queue(UInt32(index)) }
        var type = Int32(captureType)
        try calls.request(.streamOn, fd, &type, "start streaming on", device)
        streaming = true
    }

    private func queue(_ index: UInt32) throws(V4L2Error) {
        var buffer = v4l2_buffer()
        buffer.index = index
        buffer.type = captureType
        buffer.memory = UInt32(V4L2_MEMORY_MMAP.rawValue)
        try calls.request(.queueBuffer, fd, &buffer, "queue buffer \(index) on", device)
    }

    /// The capture loop: poll, dequeue, copy, requeue, yield; until woken or the device fails.
    func stream(wake: Int32, into continuation: AsyncThrowingStream<Frame, any Error>.Continuation) {
        var descriptors = [
            pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let ready: Int32
            switch valueOrErrno({ calls.poll(&descriptors, 2, 2000) }) {
            case .success(let count): ready = count
            case .failure(let failure):
                continuation.finish(
                    throwing: V4L2Error(
                        action: "wait for frames on", device: device, request: "poll", errno: failure.code))
                return
            }
            if descriptors[1].revents != 0 {
                continuation.finish()
                return
            }
            if ready == 0 { continue }  // no frame for 2 s: keep waiting; the pipeline reports it
            if Int32(descriptors[0].revents) & (Int32(POLLERR) | Int32(POLLHUP)) != 0
                && Int32(descriptors[0].revents) & Int32(POLLIN) == 0
            {
                continuation.finish(
                    throwing: V4L2Error(action: "wait for frames on", device: device, request: "poll", errno: ENODEV))
                return
            }
            var buffer = v4l2_buffer()
            buffer.type = captureType
            buffer.memory = UInt32(V4L2_MEMORY_MMAP.rawValue)
            do {
                try calls.request(.dequeueBuffer, fd, &buffer, "dequeue buffer on", device)
            } catch  where error.errno == EAGAIN {
                continue
            } catch {
                continuation.finish(throwing: error)
                return
            }
            let index = Int(buffer.index)
            guard index < buffers.count else { continue }
            let used = min(Int(buffer.bytesused), buffers[index].length)
            let bytes = Array(UnsafeRawBufferPointer(start: buffers[index].address, count: used))
            let corrupt = buffer.flags & UInt32(V4L2_BUF_FLAG_ERROR) != 0
            do {
                try queue(buffer.index)
            } catch {
                continuation.finish(throwing: error)
                return
            }
            guard !corrupt, used > 0 else { continue }
            let timestamp = Duration.seconds(buffer.timestamp.tv_sec) + .microseconds(buffer.timestamp.tv_usec)
            continuation.yield(
                Frame(
                    bytes: bytes, format: granted.format, width: granted.width, height: granted.height,
                    timestamp: timestamp, sequence: UInt64(buffer.sequence)))
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        if streaming {
            var type = Int32(captureType)
            try? calls.request(.streamOff, fd, &type, "stop streaming on", device)
        }
        for buffer in buffers { _ = calls.unmap(buffer.address, buffer.length) }
        buffers = []
        _ = calls.close(fd)
    }
}

/// "MJPG", "YUYV", ... from a V4L2 fourcc.
func fourcc(_ code: UInt32) -> String {
    String(decoding: (0..<4).map { UInt8(truncatingIfNeeded: code >> (8 * $0)) }, as: UTF8.self)
}

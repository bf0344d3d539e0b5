internal import CV4L2
import DoorbellCore

#if canImport(Glibc)
    import Glibc
#endif

/// Every libv4l2 and poll call of this module passes through this table, so that tests can script
/// failures (a call returns -1 and sets errno) and stand in for a driver, as swift-system does
/// with its mockable syscalls. `V4L2Calls.libv4l2` is the real thing.
struct V4L2Calls: Sendable {
    /// `v4l2_open`: a descriptor, or -1 and errno.
    var open: @Sendable (String, Int32) -> Int32
    /// `v4l2_close`.
    var close: @Sendable (Int32) -> Int32
    /// `v4l2_ioctl` with one pointer argument.
    var ioctl: @Sendable (Int32, UInt, UnsafeMutableRawPointer) -> Int32
    /// `v4l2_mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset)`; nil on failure.
    var map: @Sendable (Int32, Int, Int64) -> UnsafeMutableRawPointer?
    /// `v4l2_munmap`.
    var unmap: @Sendable (UnsafeMutableRawPointer, Int) -> Int32
    /// `poll` on the device and a wake-up descriptor.
    var poll: @Sendable (UnsafeMutablePointer<pollfd>, Int, Int32) -> Int32

    static let libv4l2 = V4L2Calls(
        open: { porchlight_v4l2_open($0, $1) },
        close: { v4l2_close($0) },
        ioctl: { porchlight_v4l2_ioctl($0, $1, $2) },
        map: { fd, length, offset in
            let address = v4l2_mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset)
            return address == MAP_FAILED ? nil : address
        },
        unmap: { v4l2_munmap($0, $1) },
        poll: { Glibc.poll($0, nfds_t($1), $2) }
    )
}

/// The V4L2 requests this module makes, with their names for messages. The request numbers come
/// from the C shim, so the struct sizes they encode are the C compiler's.
enum V4L2Request: CustomStringConvertible {
    case queryCapabilities, enumerateFormats, setFormat, getParameters, setParameters
    case requestBuffers, queryBuffer, queueBuffer, dequeueBuffer, streamOn, streamOff

    var code: UInt {
        switch self {
        case .queryCapabilities: porchlight_VIDIOC_QUERYCAP()
        case .enumerateFormats: porchlight_VIDIOC_ENUM_FMT()
        case .setFormat: porchlight_VIDIOC_S_FMT()
        case .getParameters: porchlight_VIDIOC_G_PARM()
        case .setParameters: porchlight_VIDIOC_S_PARM()
        case .requestBuffers: porchlight_VIDIOC_REQBUFS()
        case .queryBuffer: porchlight_VIDIOC_QUERYBUF()
        case .queueBuffer: porchlight_VIDIOC_QBUF()
        case .dequeueBuffer: porchlight_VIDIOC_DQBUF()
        case .streamOn: porchlight_VIDIOC_STREAMON()
        case .streamOff: porchlight_VIDIOC_STREAMOFF()
        }
    }

    var description: String {
        switch self {
        case .queryCapabilities: "VIDIOC_QUERYCAP"
        case .enumerateFormats: "VIDIOC_ENUM_FMT"
        case .setFormat: "VIDIOC_S_FMT"
        case .getParameters: "VIDIOC_G_PARM"
        case .setParameters: "VIDIOC_S_PARM"
        case .requestBuffers: "VIDIOC_REQBUFS"
        case .queryBuffer: "VIDIOC_QUERYBUF"
        case .queueBuffer: "VIDIOC_QBUF"
        case .dequeueBuffer: "VIDIOC_DQBUF"
        case .streamOn: "VIDIOC_STREAMON"
        case .streamOff: "VIDIOC_STREAMOFF"
        }
    }
}

/// A failed camera operation, naming the action, the device, the request and the cause:
/// `cannot dequeue buffer on /dev/video0 (VIDIOC_DQBUF): No such device`.
public struct V4L2Error: Error, Sendable, CustomStringConvertible {
    public var action: String
    public var device: String
    public var request: String?
    public var errno: Int32
    public var detail: String?

    public var description: String {
        var text = "cannot \(action) \(device)"
        if let request { text += " (\(request))" }
        text += ": " + (detail ?? String(cString: strerror(errno)))
        return text
    }

    /// The camera is gone (unplugged), as opposed to refusing something.
    public var isDeviceGone: Bool { errno == ENODEV || errno == ENXIO || errno == EIO }
}

extension V4L2Calls {
    /// One ioctl, retried on EINTR, errors typed.
    func request<T>(_ request: V4L2Request, _ fd: Int32, _ argument: inout T, _ action: String, _ device: String)
        throws(V4L2Error)
    {
        let result = valueOrErrno { withUnsafeMutableBytes(of: &argument) { ioctl(fd, request.code, $0.baseAddress!) } }
        if case .failure(let failure) = result {
            throw V4L2Error(action: action, device: device, request: request.description, errno: failure.code)
        }
    }
}

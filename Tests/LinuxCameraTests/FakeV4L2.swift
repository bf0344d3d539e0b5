import CV4L2
import Synchronization

@testable import LinuxCamera

#if canImport(Glibc)
    import Glibc
#endif

/// A scripted V4L2 driver behind the C-call seam: a capture device offering `formats`, granting
/// what is asked (clamped to 640×480), with mmap buffers of real memory. Frames to deliver and
/// failures are scripted; when the frame script runs out, poll waits on the wake-up descriptor.
final class FakeV4L2: Sendable {
    enum Dequeue: Sendable {
        case frame(bytes: Int, seconds: Int, microseconds: Int)
        case fail(Int32)
    }

    struct State {
        var openError: Int32?
        var capabilities = UInt32(V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING)
        var formats: [UInt32] = [porchlight_V4L2_PIX_FMT_YUYV()]
        var failures: [UInt: Int32] = [:]
        var dequeues: [Dequeue] = []
        var queued: [UInt32] = []
        var requestedBuffers: UInt32 = 0
        var streaming = false
        var mapped = 0
        var unmapped = 0
        var closed = 0
        var sequence: UInt32 = 0
    }

    let state: Mutex<State>
    static let fd: Int32 = 77
    static let bufferLength = 640 * 480 * 2

    init(_ configure: (inout State) -> Void = { _ in }) {
        var initial = State()
        configure(&initial)
        state = Mutex(initial)
    }

    var snapshot: State { state.withLock { $0 } }

    var calls: V4L2Calls {
        V4L2Calls(
            open: { [self] _, _ in
                if let code = state.withLock({ $0.openError }) {
                    errno = code
                    return -1
                }
                return FakeV4L2.fd
            },
            close: { [self] _ in
                state.withLock { $0.closed += 1 }
                return 0
            },
            ioctl: { [self] _, request, argument in handle(request, argument) },
            map: { [self] _, length, _ in
                state.withLock { $0.mapped += 1 }
                let memory = UnsafeMutableRawPointer.allocate(byteCount: length, alignment: 16)
                memory.initializeMemory(as: UInt8.self, repeating: 0xAB, count: length)
                return memory
            },
            unmap: { [self] address, _ in
                address.deallocate()
                state.withLock { $0.unmapped += 1 }
                return 0
            },
            poll: { [self] descriptors, _, timeout in
                if state.withLock({ !$0.dequeues.isEmpty }) {
                    descriptors[0].revents = Int16(POLLIN)
                    descriptors[1].revents = 0
                    return 1
                }
                descriptors[0].revents = 0
                return Glibc.poll(descriptors + 1, 1, timeout)
            }
        )
    }

    private func handle(_ request: UInt, _ argument: UnsafeMutableRawPointer) -> Int32 {
        if let code = state.withLock({ $0.failures.removeValue(forKey: request) }) {
            errno = code
            return -1
        }
        switch request {
        case porchlight_VIDIOC_QUERYCAP():
            let capabilities = argument.assumingMemoryBound(to: v4l2_capability.self)
            capabilities.pointee.capabilities = state.withLock { $0.capabilities }
        case porchlight_VIDIOC_ENUM_FMT():
            let description = argument.assumingMemoryBound(to: v4l2_fmtdesc.self)
            let formats = state.withLock { $0.formats }
            guard Int(description.pointee.index) < formats.count else {
                errno = EINVAL
                return -1
            }
            description.pointee.pixelformat = formats[Int(description.pointee.index)]
        case porchlight_VIDIOC_S_FMT():
            let format = argument.assumingMemoryBound(to: v4l2_format.self)
            format.pointee.fmt.pix.width = min(format.pointee.fmt.pix.width, 640)
            format.pointee.fmt.pix.height = min(format.pointee.fmt.pix.height, 480)
        case porchlight_VIDIOC_S_PARM():
            break  // keeps the asked interval, as drivers with frame-rate control do
        case porchlight_VIDIOC_REQBUFS():
            let buffers = argument.assumingMemoryBound(to: v4l2_requestbuffers.self)
            state.withLock { $0.requestedBuffers = buffers.pointee.count }
        case porchlight_VIDIOC_QUERYBUF():
            let buffer = argument.assumingMemoryBound(to: v4l2_buffer.self)
            buffer.pointee.length = UInt32(FakeV4L2.bufferLength)
            buffer.pointee.m.offset = buffer.pointee.index * UInt32(FakeV4L2.bufferLength)
        case porchlight_VIDIOC_QBUF():
            let buffer = argument.assumingMemoryBound(to: v4l2_buffer.self)
            state.withLock { $0.queued.append(buffer.pointee.index) }
        case porchlight_VIDIOC_DQBUF():
            let buffer = argument.assumingMemoryBound(to: v4l2_buffer.self)
            let step = state.withLock { state -> (Dequeue, UInt32, UInt32)? in
                guard !state.dequeues.isEmpty, !state.queued.isEmpty else { return nil }
                state.sequence += 1
                return (state.dequeues.removeFirst(), state.queued.removeFirst(), state.sequence)
            }
            guard let (dequeue, index, sequence) = step else {
                errno = EAGAIN
                return -1
            }
            switch dequeue {
            case .fail(let code):
                state.withLock { $0.queued.insert(index, at: 0) }
                errno = code
                return -1
            case .frame(let bytes, let seconds, let microseconds):
                buffer.pointee.index = index
                buffer.pointee.bytesused = UInt32(bytes)
                buffer.pointee.sequence = sequence
                buffer.pointee.timestamp = timeval(tv_sec: seconds, tv_usec: microseconds)
            }
        case porchlight_VIDIOC_STREAMON():
            state.withLock { $0.streaming = true }
        case porchlight_VIDIOC_STREAMOFF():
            state.withLock { $0.streaming = false }
        default:
            errno = ENOTTY
            return -1
        }
        return 0
    }
}

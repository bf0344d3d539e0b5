import CV4L2
import DoorbellCore
import Logging
import Testing

import DoorbellTestKit

@testable import LinuxCamera

#if canImport(Glibc)
    import Glibc
#endif

@Suite("V4L2 camera, through its C-call seam", .timeLimit(.minutes(10)))
struct V4L2CameraTests {
    func camera(_ fake: FakeV4L2, preference: V4L2Camera.Preference = .auto) -> V4L2Camera {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return V4L2Camera(
            device: "/dev/video0", preference: preference, width: 1280, height: 720, fps: 15, buffers: 4,
            logger: logger, calls: fake.calls)
    }

    @Test("a YUYV-only camera (like vivid) is negotiated, and frames arrive with their driver timestamps")
    func yuyvStreaming() async throws {
        let session = try camera(FakeV4L2()).open()
        #expect(session.granted == GrantedFormat(format: .yuyv, width: 640, height: 480, fps: 15, buffers: 4))
        session.close()

        let fake2 = FakeV4L2 {
            $0.dequeues = [
                .frame(bytes: 640 * 480 * 2, seconds: 100, microseconds: 5000),
                .fail(EINTR),
                .frame(bytes: 640 * 480 * 2, seconds: 100, microseconds: 71_000),
            ]
        }
        var iterator = try camera(fake2).frames().makeAsyncIterator()
        let first = try #require(try await iterator.next())
        let second = try #require(try await iterator.next())
        #expect(first.format == .yuyv && first.width == 640 && first.height == 480)
        #expect(first.bytes.count == 640 * 480 * 2 && first.bytes.allSatisfy { $0 == 0xAB })
        #expect(first.timestamp == .seconds(100) + .microseconds(5000))
        #expect(second.timestamp == .seconds(100) + .microseconds(71_000))
        #expect(fake2.snapshot.requestedBuffers == 4)
        #expect(fake2.snapshot.queued.count == 4, "every buffer is back with the driver")
    }

    @Test("MJPEG is preferred when offered")
    func mjpegPreferred() throws {
        let fake = FakeV4L2 { $0.formats = [porchlight_V4L2_PIX_FMT_YUYV(), porchlight_V4L2_PIX_FMT_MJPEG()] }
        let session = try camera(fake).open()
        #expect(session.granted.format == .mjpeg)
        session.close()
        let forced = FakeV4L2 { $0.formats = [porchlight_V4L2_PIX_FMT_YUYV(), porchlight_V4L2_PIX_FMT_MJPEG()] }
        let yuyv = try camera(forced, preference: .yuyv).open()
        #expect(yuyv.granted.format == .yuyv)
        yuyv.close()
    }

    @Test("an unplugged camera ends the stream with an error naming the device and the request, and is released")
    func unplugged() async throws {
        let fake = FakeV4L2 { $0.dequeues = [.fail(ENODEV)] }
        var iterator = try camera(fake).frames().makeAsyncIterator()
        let error = await #expect(throws: V4L2Error.self) { _ = try await iterator.next() }
        #expect(error?.description == "cannot dequeue buffer on /dev/video0 (VIDIOC_DQBUF): No such device")
        #expect(error?.isDeviceGone == true)
        #expect(await eventually { fake.snapshot.closed == 1 })
        #expect(fake.snapshot.unmapped == fake.snapshot.mapped)
        #expect(!fake.snapshot.streaming)
    }

    @Test("a missing device is a clear error")
    func missingDevice() throws {
        let fake = FakeV4L2 { $0.openError = ENOENT }
        let error = #expect(throws: V4L2Error.self) { _ = try camera(fake).open() }
        #expect(error?.description == "cannot open camera /dev/video0: No such file or directory")
    }

    @Test("EBUSY on starting the stream is reported, and everything taken is given back")
    func busy() throws {
        let fake = FakeV4L2 { $0.failures = [porchlight_VIDIOC_STREAMON(): EBUSY] }
        let error = #expect(throws: V4L2Error.self) { _ = try camera(fake).open() }
        #expect(
            error?.description == "cannot start streaming on /dev/video0 (VIDIOC_STREAMON): Device or resource busy")
        #expect(fake.snapshot.closed == 1 && fake.snapshot.unmapped == fake.snapshot.mapped)
    }

    @Test("a device that is not a capture device, or offers no usable format, is refused with the reason")
    func unusableDevices() throws {
        let metadata = FakeV4L2 { $0.capabilities = UInt32(V4L2_CAP_META_CAPTURE | V4L2_CAP_STREAMING) }
        let notCapture = #expect(throws: V4L2Error.self) { _ = try camera(metadata).open() }
        #expect(notCapture?.description.contains("not a video capture device") == true)
        let h264 = FakeV4L2 { $0.formats = [0x3436_3248] }  // "H264"
        let noFormat = #expect(throws: V4L2Error.self) { _ = try camera(h264).open() }
        #expect(noFormat?.description.contains("it offers H264; Porchlight reads MJPEG or YUYV") == true)
        #expect(h264.snapshot.closed == 1)
    }
}

@Suite("V4L2 camera on the real libv4l2", .timeLimit(.minutes(10)))
struct V4L2RealLibraryTests {
    @Test("a device that does not exist is a clear error from the real library")
    func missingDevice() throws {
        let camera = V4L2Camera(
            device: "/dev/video-porchlight-absent", preference: .auto, width: 640, height: 480, fps: 10, buffers: 4,
            logger: Logger(label: "test"))
        let error = #expect(throws: V4L2Error.self) { _ = try camera.frames() }
        #expect(error?.errno == ENOENT)
    }
}

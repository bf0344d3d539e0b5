import CALSA
import CGPIOD
import CSpeexDSP
import CTurboJPEG
import CV4L2
import Testing

/// The system-library modules import, link and expose their shims. The adapters' own tests
/// exercise the libraries for real; these catch a broken module map or a missing -dev package.
@Suite("C library modules", .timeLimit(.minutes(10)))
struct CLibrariesTests {
    @Test("libgpiod's shim speaks the API of the library it links: 1.x on bookworm, 2.x on trixie")
    func gpiod() {
        let version = String(cString: porchlight_gpio_version())
        #expect(version.hasPrefix("\(porchlight_gpiod_api)."), "libgpiod \(version)")
        #expect([1, 2].contains(porchlight_gpiod_api))
    }

    @Test("the V4L2 request shims match the kernel's encoding")
    func v4l2Requests() {
        // _IOR('V', 0, struct v4l2_capability): direction read (2), size 104, type 'V', number 0.
        let expected =
            (UInt(2) << 30) | (UInt(MemoryLayout<v4l2_capability>.size) << 16) | (UInt(UInt8(ascii: "V")) << 8)
        #expect(porchlight_VIDIOC_QUERYCAP() == expected)
        #expect(porchlight_V4L2_PIX_FMT_MJPEG() == 0x4750_4A4D)  // "MJPG" little-endian
        #expect(porchlight_V4L2_PIX_FMT_YUYV() == 0x5659_5559)  // "YUYV"
    }

    @Test("turbojpeg makes and frees a compressor")
    func turbojpeg() throws {
        let handle = try #require(tjInitCompress())
        #expect(tjDestroy(handle) == 0)
    }

    @Test("libasound reports its version")
    func alsa() {
        #expect(String(cString: snd_asoundlib_version()).hasPrefix("1."))
    }

    @Test("speexdsp makes an echo canceller for 20 ms frames at 16 kHz")
    func speex() throws {
        let state = try #require(speex_echo_state_init(320, 3200))
        speex_echo_state_destroy(state)
    }

}

internal import CGPIOD
import DoorbellCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An edge with its kernel timestamp, after active-low: "rising" means "became active".
struct RawGPIOEvent: Sendable, Equatable {
    var rising: Bool
    var seconds: Int
    var nanoseconds: Int
}

/// A chip as `gpiodetect` shows it.
struct RawChipInfo: Sendable, Equatable {
    /// `gpiochip0`.
    var name: String
    /// `pinctrl-rp1`.
    var label: String
    var lineCount: UInt32
}

/// A line as `gpioinfo` shows it.
struct RawLineInfo: Sendable, Equatable {
    /// The device tree's name; nil when it gives none.
    var name: String?
    /// Who holds the line; nil when nobody does.
    var consumer: String?
}

/// Every libgpiod and poll call of this module passes through this table, so that tests can
/// script failures (a call returns -1 or nil and sets errno) without hardware, as swift-system
/// does with its mockable syscalls. `GPIOCalls.libgpiod` is the real thing: CGPIOD's
/// `porchlight_gpio_*` functions, which speak libgpiod 1.6 (bookworm) or 2.x (trixie), whichever
/// headers the build found. Everything above this table is the same code on both.
struct GPIOCalls: Sendable {
    /// The GPIO chips' device paths, `/dev/gpiochip*`, in number order.
    var chipPaths: @Sendable () -> [String]
    /// `gpiod_chip_open` by path. nil and errno on failure.
    var open: @Sendable (String) -> OpaquePointer?
    /// `gpiod_chip_close`, after the chip's requests are released.
    var close: @Sendable (OpaquePointer) -> Void
    var chipInfo: @Sendable (OpaquePointer) -> RawChipInfo?
    var lineInfo: @Sendable (OpaquePointer, UInt32) -> RawLineInfo?
    /// The offset of the line with this name, or -1 and errno (ENOENT: no such line).
    var findLine: @Sendable (OpaquePointer, String) -> Int32
    /// Requests a line for both edges: chip, offset, consumer, active-low, bias. nil and errno.
    var requestInput: @Sendable (OpaquePointer, UInt32, String, Bool, GPIOBias) -> OpaquePointer?
    /// Requests a line as an output: chip, offset, consumer, active-low, initial value.
    var requestOutput: @Sendable (OpaquePointer, UInt32, String, Bool, Bool) -> OpaquePointer?
    /// The request's descriptor, readable when edges are queued.
    var requestDescriptor: @Sendable (OpaquePointer) -> Int32
    /// Gives the line back.
    var release: @Sendable (OpaquePointer) -> Void
    /// `poll` on the event descriptor and a wake-up descriptor.
    var poll: @Sendable (UnsafeMutablePointer<pollfd>, Int, Int32) -> Int32
    /// Reads the queued edges: how many, or -1.
    var readEdges: @Sendable (OpaquePointer, inout [RawGPIOEvent]) -> Int32
    /// Sets an output (logical: 1 is active).
    var setValue: @Sendable (OpaquePointer, Int32) -> Int32

    /// Which libgpiod API the real table speaks: 1 or 2.
    static let libgpiodAPI = Int(porchlight_gpiod_api)
    static func libgpiodVersion() -> String { String(cString: porchlight_gpio_version()) }

    static let libgpiod = GPIOCalls(
        chipPaths: {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []).filter {
                $0.hasPrefix("gpiochip")
            }
            return names.sorted { $0.numberedBefore($1) }.map { "/dev/\($0)" }
        },
        open: { porchlight_gpio_open($0) },
        close: { porchlight_gpio_close($0) },
        chipInfo: { chip in
            var info = porchlight_gpio_chip_info()
            guard porchlight_gpio_chip_info(chip, &info) == 0 else { return nil }
            return RawChipInfo(
                name: text(of: &info.name) ?? "", label: text(of: &info.label) ?? "", lineCount: info.lines)
        },
        lineInfo: { chip, offset in
            var info = porchlight_gpio_line_info()
            guard porchlight_gpio_line_info(chip, offset, &info) == 0 else { return nil }
            let consumer = text(of: &info.consumer)
            return RawLineInfo(
                name: text(of: &info.name), consumer: info.used != 0 ? consumer ?? "unnamed" : nil)
        },
        findLine: { porchlight_gpio_find_line($0, $1) },
        requestInput: { chip, offset, consumer, activeLow, bias in
            porchlight_gpio_request_input(chip, offset, consumer, activeLow ? 1 : 0, bias.code).map(OpaquePointer.init)
        },
        requestOutput: { chip, offset, consumer, activeLow, initial in
            porchlight_gpio_request_output(chip, offset, consumer, activeLow ? 1 : 0, initial ? 1 : 0)
                .map(OpaquePointer.init)
        },
        requestDescriptor: { porchlight_gpio_request_fd(UnsafeMutablePointer($0)) },
        release: { porchlight_gpio_release(UnsafeMutablePointer($0)) },
        poll: { Glibc.poll($0, nfds_t($1), $2) },
        readEdges: { request, events in
            var buffer = [porchlight_gpio_edge](
                repeating: porchlight_gpio_edge(), count: Int(PORCHLIGHT_GPIO_EDGE_BATCH))
            let count = porchlight_gpio_read_edges(UnsafeMutablePointer(request), &buffer, UInt32(buffer.count))
            guard count > 0 else { return count }
            events = buffer[..<Int(count)].map {
                RawGPIOEvent(rising: $0.rising != 0, seconds: Int($0.seconds), nanoseconds: Int($0.nanoseconds))
            }
            return count
        },
        setValue: { porchlight_gpio_set_value(UnsafeMutablePointer($0), $1) }
    )
}

extension GPIOBias {
    /// CGPIOD's bias code.
    fileprivate var code: Int32 {
        switch self {
        case .asIs: PORCHLIGHT_GPIO_BIAS_AS_IS
        case .disabled: PORCHLIGHT_GPIO_BIAS_DISABLED
        case .pullUp: PORCHLIGHT_GPIO_BIAS_PULL_UP
        case .pullDown: PORCHLIGHT_GPIO_BIAS_PULL_DOWN
        }
    }
}

/// A C string in a fixed buffer (a tuple in Swift); nil when it is empty.
private func text<Buffer>(of buffer: inout Buffer) -> String? {
    let value = withUnsafeBytes(of: &buffer) { bytes in
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
    return value.isEmpty ? nil : value
}

extension String {
    /// `gpiochip2` before `gpiochip10`.
    fileprivate func numberedBefore(_ other: String) -> Bool {
        let (left, right) = (Int(drop { !$0.isNumber }) ?? 0, Int(other.drop { !$0.isNumber }) ?? 0)
        return left == right ? self < other : left < right
    }
}

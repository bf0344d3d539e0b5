internal import CGPIOD
import DoorbellCore

#if canImport(Glibc)
    import Glibc
#endif

/// An edge as libgpiod v1 reports it, before active-low mapping (the kernel has already applied
/// the request's active-low flag, so "rising" means "became active").
struct RawGPIOEvent: Sendable, Equatable {
    var rising: Bool
    var seconds: Int
    var nanoseconds: Int
}

/// Every libgpiod and poll call of this module passes through this table, so that tests can
/// script failures (a call returns -1 and sets errno) without hardware, as swift-system does
/// with its mockable syscalls. `GPIOCalls.libgpiod` is the real thing, on the v1 API that
/// Debian 12 and Raspberry Pi OS bookworm ship.
///
/// A libgpiod 2.x implementation (Raspberry Pi OS trixie) would fill the same table from
/// gpiod_chip_open + gpiod_request_lines with gpiod_line_settings (edge detection, bias,
/// active-low) and gpiod_edge_event_buffer reads, selected by the C module's
/// PORCHLIGHT_GPIOD_API. It is not written yet because nothing here can test it: Debian 12 has
/// no libgpiod 2 and its kernel's gpio-sim runs the v1 uAPI tests.
struct GPIOCalls: Sendable {
    /// `gpiod_chip_open_lookup`: a path, a name, a label or a number. NULL and errno on failure.
    var openChip: @Sendable (String) -> OpaquePointer?
    /// `gpiod_chip_close`; also releases the chip's requested lines.
    var closeChip: @Sendable (OpaquePointer) -> Void
    /// `gpiod_chip_name`, such as `gpiochip0`.
    var chipName: @Sendable (OpaquePointer) -> String
    /// `gpiod_chip_get_line` by offset.
    var lineAtOffset: @Sendable (OpaquePointer, UInt32) -> OpaquePointer?
    /// `gpiod_chip_find_line` by the name the device tree gives the line.
    var lineNamed: @Sendable (OpaquePointer, String) -> OpaquePointer?
    /// `gpiod_line_offset`.
    var lineOffset: @Sendable (OpaquePointer) -> UInt32
    /// `gpiod_line_request_both_edges_events_flags`.
    var requestEdges: @Sendable (OpaquePointer, String, Int32) -> Int32
    /// `gpiod_line_request_output_flags` with the initial value.
    var requestOutput: @Sendable (OpaquePointer, String, Int32, Int32) -> Int32
    /// `gpiod_line_event_get_fd`.
    var eventDescriptor: @Sendable (OpaquePointer) -> Int32
    /// `poll` on the event descriptor and a wake-up descriptor.
    var poll: @Sendable (UnsafeMutablePointer<pollfd>, Int, Int32) -> Int32
    /// `gpiod_line_event_read_fd_multiple`: the number of events read, or -1.
    var readEvents: @Sendable (Int32, inout [RawGPIOEvent]) -> Int32
    /// `gpiod_line_set_value` (logical: 1 is active).
    var setValue: @Sendable (OpaquePointer, Int32) -> Int32
    /// `gpiod_chip_label`, such as `pinctrl-rp1`.
    var chipLabel: @Sendable (OpaquePointer) -> String
    /// `gpiod_chip_num_lines`.
    var lineCount: @Sendable (OpaquePointer) -> UInt32
    /// `gpiod_line_name`: nil for a line the device tree does not name.
    var lineName: @Sendable (OpaquePointer) -> String?
    /// `gpiod_line_consumer`: who holds the line, nil when nobody does.
    var lineConsumer: @Sendable (OpaquePointer) -> String?

    static let libgpiod = GPIOCalls(
        openChip: { gpiod_chip_open_lookup($0) },
        closeChip: { gpiod_chip_close($0) },
        chipName: { String(cString: gpiod_chip_name($0)) },
        lineAtOffset: { gpiod_chip_get_line($0, $1) },
        lineNamed: { gpiod_chip_find_line($0, $1) },
        lineOffset: { gpiod_line_offset($0) },
        requestEdges: { gpiod_line_request_both_edges_events_flags($0, $1, $2) },
        requestOutput: { gpiod_line_request_output_flags($0, $1, $2, $3) },
        eventDescriptor: { gpiod_line_event_get_fd($0) },
        poll: { Glibc.poll($0, nfds_t($1), $2) },
        readEvents: { fd, events in
            var buffer = [gpiod_line_event](repeating: gpiod_line_event(), count: 16)
            let count = gpiod_line_event_read_fd_multiple(fd, &buffer, UInt32(buffer.count))
            guard count > 0 else { return count }
            events = buffer[..<Int(count)].map {
                RawGPIOEvent(
                    rising: $0.event_type == Int32(GPIOD_LINE_EVENT_RISING_EDGE), seconds: Int($0.ts.tv_sec),
                    nanoseconds: Int($0.ts.tv_nsec))
            }
            return count
        },
        setValue: { gpiod_line_set_value($0, $1) },
        chipLabel: { String(cString: gpiod_chip_label($0)) },
        lineCount: { gpiod_chip_num_lines($0) },
        lineName: { gpiod_line_name($0).map { String(cString: $0) } },
        lineConsumer: { gpiod_line_consumer($0).map { String(cString: $0) } }
    )

    /// The request flags for active-low and bias.
    static func flags(activeLow: Bool, bias: GPIOBias) -> Int32 {
        var flags: Int32 = activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
        switch bias {
        case .pullUp: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
        case .pullDown: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
        case .disabled: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
        case .asIs: break
        }
        return flags
    }
}

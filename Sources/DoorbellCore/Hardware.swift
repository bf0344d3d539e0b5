// The words for GPIO lines and camera formats that the config, the adapters and the hardware
// checks share. They are here, not in Config, so that the adapters do not depend on the config's
// parser: the composition passes them on.

/// How to find a GPIO line: by its offset on the chip, or by the name the device tree gives it.
public enum GPIOLine: Sendable, Equatable, CustomStringConvertible {
    case offset(Int)
    case name(String)
    public var description: String {
        switch self {
        case .offset(let n): "\(n)"
        case .name(let s): "\"\(s)\""
        }
    }
}

/// The pull resistor a button's line asks the kernel for (`as-is` leaves it as the board set it).
public enum GPIOBias: String, Sendable, CaseIterable {
    case pullUp = "pull-up"
    case pullDown = "pull-down"
    case disabled
    case asIs = "as-is"
}

/// The pixel format asked of a V4L2 camera: MJPEG (stored as it comes), YUYV (encoded here), or
/// whichever the camera offers, MJPEG first.
public enum PixelFormatPreference: String, Sendable, CaseIterable {
    case auto
    case mjpeg
    case yuyv
}

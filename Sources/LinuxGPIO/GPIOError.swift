#if canImport(Glibc)
    import Glibc
#endif

/// A failed GPIO operation, naming the action, the chip, the line and the cause:
/// `cannot request line 17 on /dev/gpiochip0: Device or resource busy`.
public struct GPIOError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case chipNotFound
        case lineNotFound
        case busy
        case permissionDenied
        case failed
    }

    public var kind: Kind
    /// "open GPIO chip gpiochip9", "request line 17 on /dev/gpiochip0".
    public var action: String
    public var errno: Int32
    public var hint: String?

    init(_ action: String, errno code: Int32, kind: Kind? = nil) {
        self.action = action
        self.errno = code
        self.kind =
            kind
            ?? {
                switch code {
                case ENOENT, ENODEV: .chipNotFound
                case EBUSY: .busy
                case EACCES, EPERM: .permissionDenied
                default: .failed
                }
            }()
        switch self.kind {
        case .chipNotFound:
            hint =
                "`gpiodetect` lists the chips; button.chip takes a path, a name, a label or \"auto\" (the header's chip)"
        case .lineNotFound: hint = "`gpioinfo` lists the lines and their names"
        case .busy: hint = "another program holds the line; `gpioinfo` shows its consumer"
        case .permissionDenied:
            hint = "the service user needs the GPIO chip: see hardware/udev/60-porchlight.rules"
        case .failed: hint = nil
        }
    }

    public var description: String {
        "cannot \(action): \(String(cString: strerror(errno)))"
    }
}

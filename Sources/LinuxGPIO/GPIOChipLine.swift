import Config

#if canImport(Glibc)
    import Glibc
#endif

/// An open chip and one of its lines. Owns the chip handle: closing it (on release) frees the
/// line request too, as libgpiod documents for `gpiod_chip_close`.
final class GPIOChipLine: @unchecked Sendable {
    // Unchecked: the handles are only used by one thread at a time (the opener, then the reader
    // thread or the owner of the output), and `close` runs once, from deinit.
    let calls: GPIOCalls
    let chip: OpaquePointer
    let line: OpaquePointer
    /// `/dev/gpiochip0`, for messages.
    let chipPath: String
    /// `17` or `17 ("GPIO17")`, for messages.
    let lineDescription: String

    /// Opens `chip` (a path, name or label) and finds `line` on it.
    init(chip spec: String, line address: GPIOLine, calls: GPIOCalls) throws(GPIOError) {
        self.calls = calls
        guard let chip = calls.openChip(spec) else {
            throw GPIOError("open GPIO chip \(spec)", errno: errno)
        }
        let chipPath = "/dev/\(calls.chipName(chip))"
        let found: OpaquePointer?
        switch address {
        case .offset(let offset): found = calls.lineAtOffset(chip, UInt32(offset))
        case .name(let name): found = calls.lineNamed(chip, name)
        }
        guard let line = found else {
            let code = errno
            calls.closeChip(chip)
            switch address {
            case .offset(let offset):
                throw GPIOError(
                    "find line \(offset) on \(chipPath)", errno: code == 0 ? EINVAL : code, kind: .lineNotFound)
            case .name(let name):
                throw GPIOError(
                    "find a line named \"\(name)\" on \(chipPath)", errno: code == 0 ? ENOENT : code,
                    kind: .lineNotFound)
            }
        }
        self.chip = chip
        self.line = line
        self.chipPath = chipPath
        let offset = calls.lineOffset(line)
        if case .name(let name) = address {
            lineDescription = "\(offset) (\"\(name)\")"
        } else {
            lineDescription = "\(offset)"
        }
    }

    deinit { calls.closeChip(chip) }

    /// The consumer name `gpioinfo` shows for our lines.
    static let consumer = "porchlightd"
}

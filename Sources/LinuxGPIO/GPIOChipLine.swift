import DoorbellCore

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

    /// Opens `chip` (a path, name or label, or `auto`: the 40-pin header's chip) and finds
    /// `line` on it.
    init(chip spec: String, line address: GPIOLine, calls: GPIOCalls) throws(GPIOError) {
        self.calls = calls
        let chip = try Self.open(spec, calls: calls)
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

    /// `auto`: the chip of the Raspberry Pi's 40-pin header, by its label, whatever number the
    /// kernel gave it (the Pi 5's RP1 is `gpiochip4` before Linux 6.6.45 and `gpiochip0` after);
    /// then `gpiochip0`, the first chip on other boards.
    static let automatic = "auto"
    static let headerChips = ["pinctrl-rp1", "pinctrl-bcm2711", "pinctrl-bcm2835", "gpiochip0"]

    /// Opens a chip by its spec; for `auto`, the first header chip there is. A candidate that
    /// exists but cannot be opened (no permission) is that error, not a reason to try the next.
    static func open(_ spec: String, calls: GPIOCalls) throws(GPIOError) -> OpaquePointer {
        guard spec == automatic else {
            switch pointerOrErrno({ calls.openChip(spec) }) {
            case .success(let opened): return opened
            case .failure(let failure): throw GPIOError("open GPIO chip \(spec)", errno: failure.code)
            }
        }
        for candidate in headerChips {
            switch pointerOrErrno({ calls.openChip(candidate) }) {
            case .success(let opened): return opened
            case .failure(let failure) where failure.code == ENOENT || failure.code == ENODEV: continue
            case .failure(let failure): throw GPIOError("open GPIO chip \(candidate)", errno: failure.code)
            }
        }
        throw GPIOError(
            "find the header's GPIO chip (chip = \"auto\" tried \(headerChips.joined(separator: ", ")))",
            errno: ENOENT)
    }

    /// The consumer name `gpioinfo` shows for our lines.
    static let consumer = "porchlightd"
}

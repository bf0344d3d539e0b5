import DoorbellCore

#if canImport(Glibc)
    import Glibc
#endif

/// An open chip and one requested line on it. Releases the request, then closes the chip, once,
/// from deinit: libgpiod 1 frees a chip's lines with the chip, libgpiod 2 keeps them apart, and
/// this order is right for both.
final class GPIOChipLine: @unchecked Sendable {
    // Unchecked: the handles are only used by one thread at a time (the opener, then the reader
    // thread or the owner of the output), and the release runs once, from deinit.
    let calls: GPIOCalls
    let chip: OpaquePointer
    let request: OpaquePointer
    /// `/dev/gpiochip0`, for messages.
    let chipPath: String
    /// `17` or `17 ("GPIO17")`, for messages.
    let lineDescription: String

    /// Opens `chip` (see ``GPIOChip/open(_:calls:)``), finds `line` on it and requests it with
    /// `request`, whose failure is reported as "cannot `action` line … on …".
    init(
        chip spec: String, line address: GPIOLine, calls: GPIOCalls, action: String,
        request: (OpaquePointer, UInt32) -> OpaquePointer?
    ) throws(GPIOError) {
        self.calls = calls
        let chip = try GPIOChip.open(spec, calls: calls)
        let offset: UInt32
        do {
            offset = try Self.find(address, on: chip, calls: calls)
        } catch {
            calls.close(chip.pointer)
            throw error
        }
        lineDescription = if case .name(let name) = address { "\(offset) (\"\(name)\")" } else { "\(offset)" }
        switch pointerOrErrno({ request(chip.pointer, offset) }) {
        case .success(let requested): self.request = requested
        case .failure(let failure):
            calls.close(chip.pointer)
            throw GPIOError("\(action) line \(lineDescription) on \(chip.path)", errno: failure.code)
        }
        self.chip = chip.pointer
        chipPath = chip.path
    }

    deinit {
        calls.release(request)
        calls.close(chip)
    }

    /// The offset of `address` on the chip: a number it has, or a name the device tree gives.
    private static func find(_ address: GPIOLine, on chip: GPIOChip, calls: GPIOCalls) throws(GPIOError) -> UInt32 {
        switch address {
        case .offset(let offset):
            guard offset >= 0, offset < chip.lineCount else {
                throw GPIOError("find line \(offset) on \(chip.path)", errno: EINVAL, kind: .lineNotFound)
            }
            return UInt32(offset)
        case .name(let name):
            switch valueOrErrno({ calls.findLine(chip.pointer, name) }) {
            case .success(let offset): return UInt32(offset)
            case .failure(let failure):
                throw GPIOError(
                    "find a line named \"\(name)\" on \(chip.path)", errno: failure.code == 0 ? ENOENT : failure.code,
                    kind: .lineNotFound)
            }
        }
    }

    /// The consumer name `gpioinfo` shows for our lines.
    static let consumer = "porchlightd"
}

/// An open GPIO chip, found the way `button.chip` names it.
struct GPIOChip {
    let pointer: OpaquePointer
    /// `/dev/gpiochip0`.
    let path: String
    let label: String
    let lineCount: Int

    /// `auto`: the chip of the Raspberry Pi's 40-pin header, by its label, whatever number the
    /// kernel gave it (the Pi 5's RP1 is `gpiochip4` before Linux 6.6.45 and `gpiochip0` after);
    /// then `gpiochip0`, the first chip on other boards.
    static let automatic = "auto"
    static let headerLabels = ["pinctrl-rp1", "pinctrl-bcm2711", "pinctrl-bcm2835"]
    static let fallback = "gpiochip0"

    /// Opens a chip by path (`/dev/gpiochip4`), name (`gpiochip4`), number (`4`), label
    /// (`pinctrl-rp1`) or `auto`. libgpiod 2 opens by path only, so the lookup is done here, the
    /// same on both APIs. A chip that exists but may not be opened (no permission) is that
    /// error, not a reason to look elsewhere, unless another chip matches.
    static func open(_ spec: String, calls: GPIOCalls) throws(GPIOError) -> GPIOChip {
        if spec.hasPrefix("/") { return try open(path: spec, as: spec, calls: calls) }
        if let number = UInt(spec) { return try open(path: "/dev/gpiochip\(number)", as: spec, calls: calls) }
        if spec.hasPrefix("gpiochip"), UInt(spec.dropFirst("gpiochip".count)) != nil {
            return try open(path: "/dev/\(spec)", as: spec, calls: calls)
        }
        var best: (rank: Int, chip: GPIOChip)?
        var refusal: GPIOError?
        for path in calls.chipPaths() {
            let chip: GPIOChip
            do {
                chip = try open(path: path, as: path, calls: calls)
            } catch {
                if error.kind != .chipNotFound, refusal == nil { refusal = error }
                continue
            }
            guard let rank = rank(of: chip, for: spec), rank < best?.rank ?? .max else {
                calls.close(chip.pointer)
                continue
            }
            if let previous = best { calls.close(previous.chip.pointer) }
            best = (rank, chip)
        }
        if let best { return best.chip }
        if let refusal { throw refusal }
        if spec == automatic {
            throw GPIOError(
                "find the header's GPIO chip (chip = \"auto\" tried \((headerLabels + [fallback]).joined(separator: ", ")))",
                errno: ENOENT)
        }
        throw GPIOError("find a GPIO chip labelled \"\(spec)\"", errno: ENOENT)
    }

    /// How well `chip` answers `spec` when chips are looked up by label, lower being better; nil
    /// when it does not. For `auto`: the header labels in order, then `gpiochip0`.
    static func rank(of chip: GPIOChip, for spec: String) -> Int? {
        guard spec == automatic else { return chip.label == spec ? 0 : nil }
        if let index = headerLabels.firstIndex(of: chip.label) { return index }
        return chip.path == "/dev/\(fallback)" ? headerLabels.count : nil
    }

    private static func open(path: String, as spec: String, calls: GPIOCalls) throws(GPIOError) -> GPIOChip {
        let pointer: OpaquePointer
        switch pointerOrErrno({ calls.open(path) }) {
        case .success(let opened): pointer = opened
        case .failure(let failure):
            // A path that is not a GPIO chip: libgpiod 1 says ENOTTY or EISDIR, libgpiod 2 ENODEV.
            let code = failure.code == ENOTTY || failure.code == EISDIR ? ENODEV : failure.code
            throw GPIOError("open GPIO chip \(spec)", errno: code)
        }
        guard let info = calls.chipInfo(pointer) else {
            let code = errno
            calls.close(pointer)
            throw GPIOError("read the chip information of \(path)", errno: code == 0 ? EIO : code)
        }
        return GPIOChip(
            pointer: pointer, path: info.name.isEmpty ? path : "/dev/\(info.name)", label: info.label,
            lineCount: Int(info.lineCount))
    }
}

import DoorbellCore

#if canImport(Glibc)
    import Glibc
#endif

/// A GPIO output line, such as the chime relay. Requested inactive at open; libgpiod applies
/// active-low, so `set(active: true)` always means "relay on".
public final class GPIOOutput: DigitalOutput, @unchecked Sendable {
    // Unchecked: setting a requested line's value is one ioctl; libgpiod keeps no
    // state that concurrent calls could corrupt, and the handle lives as long as this object.
    private let handle: GPIOChipLine

    public convenience init(chip: String, line: GPIOLine, activeLow: Bool) throws(GPIOError) {
        try self.init(chip: chip, line: line, activeLow: activeLow, calls: .libgpiod)
    }

    init(chip: String, line: GPIOLine, activeLow: Bool, calls: GPIOCalls) throws(GPIOError) {
        handle = try GPIOChipLine(chip: chip, line: line, calls: calls, action: "request output") { chip, offset in
            calls.requestOutput(chip, offset, GPIOChipLine.consumer, activeLow, false)
        }
    }

    public func set(active: Bool) throws {
        let handle = handle
        if case .failure(let failure) = valueOrErrno({ handle.calls.setValue(handle.request, active ? 1 : 0) }) {
            throw GPIOError("set output line \(handle.lineDescription) on \(handle.chipPath)", errno: failure.code)
        }
    }
}

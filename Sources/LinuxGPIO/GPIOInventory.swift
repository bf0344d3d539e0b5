import DoorbellCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The GPIO chips the kernel offers and their lines, as `gpiodetect` and `gpioinfo` list them,
/// for `porchlightctl hw gpio`: which chip is the header's, and who holds each line.
public struct GPIOChipInfo: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        public var offset: Int
        public var name: String?
        /// Who holds it (`porchlightd` for ours); nil when it is free.
        public var consumer: String?
    }

    /// `gpiochip0`.
    public var name: String
    public var label: String
    public var lines: [Line]
    /// Whether `chip = "auto"` would open this chip.
    public var isHeader: Bool

    /// Which libgpiod API this build speaks (1: bookworm's 1.6, 2: trixie's 2.x).
    public static var libgpiodAPI: Int { GPIOCalls.libgpiodAPI }

    /// The linked libgpiod's version, such as "2.2.1".
    public static var libgpiodVersion: String { GPIOCalls.libgpiodVersion() }

    /// Every chip in `/dev`, in number order. A chip that cannot be opened is listed in
    /// `refused` with why, so that a missing permission shows instead of an empty list.
    public static func all() -> (chips: [GPIOChipInfo], refused: [String]) {
        list(calls: .libgpiod)
    }

    static func list(calls: GPIOCalls) -> (chips: [GPIOChipInfo], refused: [String]) {
        var chips: [GPIOChipInfo] = []
        var refused: [String] = []
        // The chip `auto` opens: the best-ranked of these, by the rule GPIOChip.open applies.
        var header: (rank: Int, index: Int)?
        for path in calls.chipPaths() {
            let chip: GPIOChip
            do {
                chip = try GPIOChip.open(path, calls: calls)
            } catch {
                refused.append("\(path.dropFirst("/dev/".count)): \(String(cString: strerror(error.errno)))")
                continue
            }
            defer { calls.close(chip.pointer) }
            // A chip reached by two paths (a udev link such as a Pi 5's gpiochip4 for old configs) is one.
            let name = String(chip.path.dropFirst("/dev/".count))
            guard !chips.contains(where: { $0.name == name }) else { continue }
            let lines = (0..<UInt32(chip.lineCount)).compactMap { offset -> Line? in
                guard let line = calls.lineInfo(chip.pointer, offset) else { return nil }
                return Line(offset: Int(offset), name: line.name, consumer: line.consumer)
            }
            if let rank = GPIOChip.rank(of: chip, for: GPIOChip.automatic), rank < header?.rank ?? .max {
                header = (rank, chips.count)
            }
            chips.append(GPIOChipInfo(name: name, label: chip.label, lines: lines, isHeader: false))
        }
        if let header { chips[header.index].isHeader = true }
        return (chips, refused)
    }
}

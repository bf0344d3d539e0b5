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

    /// Every chip in `/dev`, by name. A chip that cannot be opened is listed in `refused` with
    /// why, so that a missing permission shows instead of an empty list.
    public static func all() -> (chips: [GPIOChipInfo], refused: [String]) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []).filter {
            $0.hasPrefix("gpiochip")
        }
        return list(names.sorted { $0.numberedBefore($1) }, calls: .libgpiod)
    }

    static func list(_ names: [String], calls: GPIOCalls) -> (chips: [GPIOChipInfo], refused: [String]) {
        let header = try? GPIOChipLine.open(GPIOChipLine.automatic, calls: calls)
        let headerName = header.map { calls.chipName($0) }
        if let header { calls.closeChip(header) }
        var chips: [GPIOChipInfo] = []
        var refused: [String] = []
        for name in names {
            let chip: OpaquePointer
            switch pointerOrErrno({ calls.openChip(name) }) {
            case .success(let opened): chip = opened
            case .failure(let failure):
                refused.append("\(name): \(String(cString: strerror(failure.code)))")
                continue
            }
            defer { calls.closeChip(chip) }
            let lines = (0..<calls.lineCount(chip)).compactMap { offset -> Line? in
                guard let line = calls.lineAtOffset(chip, offset) else { return nil }
                return Line(offset: Int(offset), name: calls.lineName(line), consumer: calls.lineConsumer(line))
            }
            let opened = calls.chipName(chip)
            chips.append(
                GPIOChipInfo(name: opened, label: calls.chipLabel(chip), lines: lines, isHeader: opened == headerName))
        }
        return (chips, refused)
    }
}

extension String {
    /// `gpiochip2` before `gpiochip10`.
    fileprivate func numberedBefore(_ other: String) -> Bool {
        let (left, right) = (Int(drop { !$0.isNumber }) ?? 0, Int(other.drop { !$0.isNumber }) ?? 0)
        return left == right ? self < other : left < right
    }
}

import TOMLKit

/// Reads one TOML table into typed values, reporting each problem to ``Diagnostics`` and carrying
/// on with the default, so one pass finds every error in the file. Keys that were never asked
/// for are reported by ``finish()`` as unknown, with the closest known key as a suggestion.
final class TableReader {
    let table: TOMLTable
    let path: String
    let diagnostics: Diagnostics
    private var known: [String] = []

    init(_ table: TOMLTable, path: String, diagnostics: Diagnostics) {
        self.table = table
        self.path = path
        self.diagnostics = diagnostics
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func report(_ key: String, _ message: String, hint: String? = nil) {
        diagnostics.report(keyPath(key), message, hint: hint)
    }

    /// The raw value, marking the key as known.
    func raw(_ key: String) -> TOMLValueConvertible? {
        known.append(key)
        return table[key]
    }

    func contains(_ key: String) -> Bool { table.contains(key: key) }

    // MARK: Scalars

    func int(_ key: String, default value: Int, in range: ClosedRange<Int>, unit: String = "") -> Int {
        guard let found = raw(key) else { return value }
        return checkedInt(found, keyPath: keyPath(key), in: range, unit: unit) ?? value
    }

    func requiredInt(_ key: String, in range: ClosedRange<Int>, hint: String) -> Int? {
        guard let found = raw(key) else {
            report(key, "missing required value: expected an integer", hint: hint)
            return nil
        }
        return checkedInt(found, keyPath: keyPath(key), in: range, unit: "")
    }

    func checkedInt(_ found: TOMLValueConvertible, keyPath: String, in range: ClosedRange<Int>, unit: String)
        -> Int?
    {
        guard let number = found.int else {
            diagnostics.report(keyPath, "expected an integer, found \(Self.describe(found))")
            return nil
        }
        guard range.contains(number) else {
            diagnostics.report(keyPath, "expected \(Self.describe(range, unit)), found \(number)")
            return nil
        }
        return number
    }

    func double(_ key: String, default value: Double, in range: ClosedRange<Double>, unit: String = "") -> Double {
        guard let found = raw(key) else { return value }
        // An integer is a fine way to write a whole number where a float is expected.
        guard let number = found.double ?? found.int.map(Double.init) else {
            report(key, "expected a number, found \(Self.describe(found))")
            return value
        }
        guard range.contains(number), number.isFinite else {
            report(key, "expected \(Self.describe(range, unit)), found \(Self.format(number))")
            return value
        }
        return number
    }

    func bool(_ key: String, default value: Bool) -> Bool {
        guard let found = raw(key) else { return value }
        guard let flag = found.bool else {
            report(key, "expected true or false, found \(Self.describe(found))")
            return value
        }
        return flag
    }

    func string(_ key: String, default value: String, allowEmpty: Bool = false) -> String {
        optionalString(key, allowEmpty: allowEmpty) ?? value
    }

    func optionalString(_ key: String, allowEmpty: Bool = false) -> String? {
        guard let found = raw(key) else { return nil }
        guard let text = found.string else {
            report(key, "expected a string, found \(Self.describe(found))")
            return nil
        }
        if !allowEmpty && text.isEmpty {
            report(key, "expected a non-empty string, found \"\"")
            return nil
        }
        return text
    }

    func choice<E: RawRepresentable & CaseIterable>(_ key: String, default value: E) -> E where E.RawValue == String {
        guard let found = raw(key) else { return value }
        let choices = E.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        guard let text = found.string else {
            report(key, "expected one of \(choices), found \(Self.describe(found))")
            return value
        }
        guard let chosen = E(rawValue: text) else {
            let suggestion = Suggestions.closest(to: text, in: E.allCases.map(\.rawValue))
            report(
                key, "expected one of \(choices), found \"\(text)\"", hint: suggestion.map { "did you mean \"\($0)\"?" }
            )
            return value
        }
        return chosen
    }

    /// A duration written as a number of seconds (`_s` keys) or milliseconds (`_ms` keys).
    func duration(_ key: String, default value: Duration, in range: ClosedRange<Double>) -> Duration {
        if key.hasSuffix("_ms") {
            let ms = double(key, default: value.milliseconds, in: range, unit: "ms")
            return .microseconds(Int64((ms * 1000).rounded()))
        }
        let seconds = double(key, default: value.seconds, in: range, unit: "s")
        return .microseconds(Int64((seconds * 1_000_000).rounded()))
    }

    // MARK: Structure

    /// The table a missing one reads as. One for all: TOMLKit 0.6's `TOMLTable` never frees the
    /// C++ table it creates, so a new one per missing table leaked on every load and reload (found
    /// by fuzzing). It is only ever read.
    nonisolated(unsafe) static let empty = TOMLTable()

    /// A sub-table; a missing one reads as empty so that defaults apply.
    func table(_ key: String) -> TableReader {
        let child = keyPath(key)
        guard let found = raw(key) else { return TableReader(Self.empty, path: child, diagnostics: diagnostics) }
        guard let table = found.table else {
            report(key, "expected a table ([\(child)]), found \(Self.describe(found))")
            return TableReader(Self.empty, path: child, diagnostics: diagnostics)
        }
        return TableReader(table, path: child, diagnostics: diagnostics)
    }

    /// An array of tables (`[[motion.zones]]`), each read by `body`.
    func tables<T>(_ key: String, _ body: (TableReader) -> T?) -> [T] {
        guard let found = raw(key) else { return [] }
        guard let array = found.array else {
            report(key, "expected an array of tables ([[\(keyPath(key))]]), found \(Self.describe(found))")
            return []
        }
        var result: [T] = []
        for (index, element) in array.enumerated() {
            let elementPath = "\(keyPath(key))[\(index)]"
            guard let table = element.table else {
                diagnostics.report(elementPath, "expected a table, found \(Self.describe(element))")
                continue
            }
            let reader = TableReader(table, path: elementPath, diagnostics: diagnostics)
            if let value = body(reader) { result.append(value) }
            reader.finish()
        }
        return result
    }

    /// Reports every key that no reader asked for.
    func finish() {
        for key in table.keys where !known.contains(key) {
            let suggestion = Suggestions.closest(to: key, in: known)
            let hint =
                suggestion.map { "did you mean '\($0)'?" }
                ?? "known keys here: \(known.sorted().joined(separator: ", "))"
            report(key, "unknown key", hint: hint)
        }
    }

    // MARK: Describing values

    static func describe(_ value: TOMLValueConvertible) -> String {
        switch value.type {
        case .string: "a string (\"\(value.string ?? "")\")"
        case .int: "an integer (\(value.int ?? 0))"
        case .double: "a number (\(value.double ?? 0))"
        case .bool: "a boolean (\(value.bool ?? false))"
        case .array: "an array"
        case .table: "a table"
        case .date, .time, .dateTime: "a date or time"
        }
    }

    static func describe(_ range: ClosedRange<Int>, _ unit: String) -> String {
        "a value from \(range.lowerBound) to \(range.upperBound)\(unit.isEmpty ? "" : " \(unit)")"
    }

    static func describe(_ range: ClosedRange<Double>, _ unit: String) -> String {
        "a value from \(format(range.lowerBound)) to \(format(range.upperBound))\(unit.isEmpty ? "" : " \(unit)")"
    }

    /// Whole numbers without a trailing ".0", as the user most likely wrote them.
    static func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? "\(Int(number))" : "\(number)"
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
    var milliseconds: Double { seconds * 1000 }
}

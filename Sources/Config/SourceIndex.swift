/// Maps key paths to line numbers by scanning the TOML text, because TOMLKit keeps source
/// positions only for parse errors. It understands `[table]`, `[[array.of.tables]]` and
/// `key = value` lines, which is how configuration files are written; a key set through an
/// inline table falls back to the line of its enclosing key.
struct SourceIndex {
    private var lines: [String: Int] = [:]

    init(text: String) {
        var prefix = ""
        var arrayCounts: [String: Int] = [:]
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.trimmingWhitespace()
            if line.hasPrefix("[[") {
                guard let end = line.range(of: "]]") else { continue }
                let name = Self.normalize(line[line.index(line.startIndex, offsetBy: 2)..<end.lowerBound])
                let index = arrayCounts[name, default: 0]
                arrayCounts[name] = index + 1
                prefix = "\(name)[\(index)]"
                record(prefix, lineNumber)
            } else if line.hasPrefix("[") {
                guard let end = line.firstIndex(of: "]") else { continue }
                prefix = Self.qualify(Self.normalize(line[line.index(after: line.startIndex)..<end]), arrayCounts)
                record(prefix, lineNumber)
            } else if let equals = line.firstIndex(of: "="), !line.hasPrefix("#") {
                let key = Self.normalize(line[..<equals])
                guard !key.isEmpty else { continue }
                record(prefix.isEmpty ? key : "\(prefix).\(key)", lineNumber)
            }
        }
    }

    private mutating func record(_ path: String, _ line: Int) {
        if lines[path] == nil { lines[path] = line }
    }

    /// The line of `keyPath`, or of the nearest enclosing key or table that the scan saw.
    func line(for keyPath: String) -> Int? {
        var path = Substring(keyPath)
        while !path.isEmpty {
            if let line = lines[String(path)] { return line }
            guard let cut = path.lastIndex(where: { $0 == "." || $0 == "[" }) else { break }
            path = path[..<cut]
        }
        return nil
    }

    /// `a . "b"` → `a.b`
    private static func normalize(_ key: Substring) -> String {
        key.split(separator: ".")
            .map { $0.trimmingWhitespace().trimmingCharacters(in: "\"'") }
            .joined(separator: ".")
    }

    /// `[motion.zones.extra]` below `[[motion.zones]]` belongs to the latest zone.
    private static func qualify(_ name: String, _ arrayCounts: [String: Int]) -> String {
        var result = ""
        for part in name.split(separator: ".") {
            let candidate = result.isEmpty ? String(part) : "\(result).\(part)"
            if let count = arrayCounts[candidate] {
                result = "\(candidate)[\(count - 1)]"
            } else {
                result = candidate
            }
        }
        return result
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        trimmingCharacters(in: " \t\r")
    }

    func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}

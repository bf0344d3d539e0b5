/// One problem in a configuration file, precise enough to fix without reading the source.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file as the user named it.
    public var file: String
    /// The line, where the parser or the source scan knows it.
    public var line: Int?
    /// `motion.zones[1].points[3]`; empty for whole-file problems such as a syntax error.
    public var keyPath: String
    /// What was expected and what was found.
    public var message: String
    /// "did you mean 'motion'?", or how to fix it.
    public var hint: String?

    public init(file: String, line: Int? = nil, keyPath: String, message: String, hint: String? = nil) {
        self.file = file
        self.line = line
        self.keyPath = keyPath
        self.message = message
        self.hint = hint
    }

    /// `porchlight.toml:12: motion.zones[1].points[3]: expected ..., found ...` plus a hint line.
    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if !keyPath.isEmpty { text += "\(keyPath): " }
        text += message
        if let hint { text += "\n    hint: \(hint)" }
        return text
    }
}

/// Every problem found in one file; loading never stops at the first.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(_ errors: [ConfigError]) {
        self.errors = errors
    }

    public var description: String {
        let noun = errors.count == 1 ? "error" : "errors"
        return errors.map(\.description).joined(separator: "\n") + "\n\(errors.count) configuration \(noun)"
    }
}

/// Collects errors while one file is decoded.
final class Diagnostics {
    let file: String
    let source: SourceIndex
    private(set) var errors: [ConfigError] = []

    init(file: String, source: SourceIndex) {
        self.file = file
        self.source = source
    }

    /// `path` made absolute against the configuration file's directory (the file as named, so a
    /// relative config name gives a path relative to the working directory, as the user meant).
    func resolve(_ path: String) -> String {
        guard !path.hasPrefix("/"), let slash = file.lastIndex(of: "/") else { return path }
        return String(file[...slash]) + path
    }

    /// Throws every error collected, in file order, so the list reads top to bottom with the file.
    func throwIfAny() throws(ConfigErrors) {
        guard !errors.isEmpty else { return }
        let ordered = errors.enumerated().sorted {
            ($0.element.line ?? .max, $0.offset) < ($1.element.line ?? .max, $1.offset)
        }
        throw ConfigErrors(ordered.map(\.element))
    }

    func report(_ keyPath: String, _ message: String, hint: String? = nil) {
        errors.append(
            ConfigError(file: file, line: source.line(for: keyPath), keyPath: keyPath, message: message, hint: hint)
        )
    }
}

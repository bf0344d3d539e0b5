#if canImport(Glibc)
    import Glibc
#endif
import TOMLKit

/// Loads and validates a configuration file. This is the only I/O in the Config module.
public enum ConfigLoader {
    /// Configuration files are small; anything bigger is a mistake (a clip named as the config).
    static let maximumFileSize = 1 << 20

    /// Reads and validates `path`, reporting every problem found.
    public static func load(path: String) throws(ConfigErrors) -> Config {
        try parse(try text(of: path), file: path)
    }

    /// The file's text, or one error saying why it cannot be read.
    static func text(of path: String) throws(ConfigErrors) -> String {
        do {
            return try readText(path)
        } catch {
            throw ConfigErrors([
                ConfigError(
                    file: path, keyPath: "", message: "cannot read the configuration file: \(error.reason)",
                    hint: error.hint)
            ])
        }
    }

    /// Validates configuration text; `file` names it in errors.
    public static func parse(_ text: String, file: String) throws(ConfigErrors) -> Config {
        let root = try parseTable(text, file: file)
        let diagnostics = Diagnostics(file: file, source: SourceIndex(text: text))
        let config = ConfigDecoder.decode(TableReader(root, path: "", diagnostics: diagnostics))
        try diagnostics.throwIfAny()
        return config
    }

    /// The TOML tree, or the syntax error with its line and column.
    static func parseTable(_ text: String, file: String) throws(ConfigErrors) -> TOMLTable {
        if let (line, problem) = TOMLPrecheck.problem(in: text) {
            throw ConfigErrors([
                ConfigError(
                    file: file, line: line, keyPath: "", message: "TOML syntax error: \(problem)",
                    hint: "TOML allows tab and line ends as its only control characters, "
                        + "and letters outside ASCII only in strings and comments")
            ])
        }
        do {
            return try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigErrors([
                ConfigError(
                    file: file, line: error.source.begin.line, keyPath: "",
                    message: "TOML syntax error at column \(error.source.begin.column): \(error.description)")
            ])
        } catch {
            throw ConfigErrors([ConfigError(file: file, keyPath: "", message: "TOML syntax error: \(error)")])
        }
    }

    struct ReadError: Error {
        var reason: String
        var hint: String?
    }

    static func readText(_ path: String) throws(ReadError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            let hint: String? =
                switch code {
                case ENOENT: "copy config/porchlight.toml there, or pass --config with the right path"
                case EACCES: "the service user must be able to read it (chmod 0640, group porchlight)"
                default: nil
                }
            throw ReadError(reason: String(cString: strerror(code)), hint: hint)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > maximumFileSize {
                throw ReadError(reason: "larger than \(maximumFileSize >> 10) KiB; is this the right file?")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ReadError(reason: "not valid UTF-8 text")
        }
        return text
    }
}

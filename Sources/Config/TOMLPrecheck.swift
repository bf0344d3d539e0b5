/// What TOML does not allow, found before toml++ (inside TOMLKit) parses the text: toml++ asserts,
/// aborting the process, on some malformed keys instead of reporting them (found by fuzzing:
/// `[\n`, `[tür]`, `[[\u{18}`). Refused here with the line:
/// - a control character other than tab and line ends, anywhere;
/// - a character outside ASCII outside a string or a comment;
/// - a key position (a table header's name, a dotted key's part, a line's key, an inline table's
///   key) that holds neither a bare key nor a quoted one;
/// - a value position (after `=`, or an array's `[` or `,`) that holds a terminator, and a bracket
///   that closes what it did not open.
/// It is no TOML parser: what it lets through, toml++ still checks.
enum TOMLPrecheck {
    static func problem(in text: String) -> (line: Int, problem: String)? {
        var scan = Scan(Array(text.unicodeScalars))
        return scan.run()
    }

    struct Scan {
        let scalars: [Unicode.Scalar]
        var index = 0
        var line = 1
        /// Open `[` and `{` of values (not table headers), innermost last.
        var nesting: [Unicode.Scalar] = []
        /// At the start of a line, before anything but whitespace.
        var lineStart = true

        init(_ scalars: [Unicode.Scalar]) {
            self.scalars = scalars
        }

        func at(_ offset: Int) -> Unicode.Scalar? {
            index + offset < scalars.count ? scalars[index + offset] : nil
        }

        static func isBare(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar {
            case "A"..."Z", "a"..."z", "0"..."9", "_", "-": true
            default: false
            }
        }

        mutating func run() -> (line: Int, problem: String)? {
            while index < scalars.count {
                if let problem = step() { return (line, problem) }
            }
            return nil
        }

        /// Checks the character at `index` for control characters; counts lines.
        mutating func advance() -> String? {
            let scalar = scalars[index]
            let value = scalar.value
            if (value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r") || value == 0x7F {
                return "control character \(Self.codePoint(value)) is not allowed"
            }
            if scalar == "\n" { line += 1 }
            index += 1
            return nil
        }

        mutating func skipBlanks() {
            while let next = at(0), next == " " || next == "\t" { index += 1 }
        }

        /// One step of code: a key position, a string, a comment, or one character.
        mutating func step() -> String? {
            let scalar = scalars[index]
            if scalar == " " || scalar == "\t" || scalar == "\r" { return advance() }
            if scalar == "\n" {
                lineStart = true
                return advance()
            }
            if scalar == "#" { return comment() }
            if lineStart && nesting.isEmpty {
                lineStart = false
                if scalar == "[" {
                    index += 1
                    let array = at(0) == "["
                    if array { index += 1 }
                    if let problem = key(in: "a table header") { return problem }
                    skipBlanks()
                    // Its closing brackets belong to the header, not to a value.
                    for _ in 0..<(array ? 2 : 1) where at(0) == "]" { index += 1 }
                    return nil
                }
                return key(in: "a key")
            }
            lineStart = false
            switch scalar {
            case "\"", "'": return string()
            case "=":
                index += 1
                skipBlanks()
                return valueStart(after: "=")
            case "[":
                nesting.append("[")
                index += 1
                return arrayElement(after: "[")
            case "{":
                nesting.append("{")
                index += 1
                skipBlanks()
                return at(0) == "}" ? nil : key(in: "an inline table")
            case "]", "}":
                // A bracket that closes what it did not open (`[}`) is what toml++ asserts on.
                let opened = nesting.popLast()
                if opened != (scalar == "]" ? "[" : "{") {
                    return "\"\(Character(scalar))\" closes nothing open here"
                }
            case ",":
                if nesting.last == "{" {
                    index += 1
                    return key(in: "an inline table")
                }
                if nesting.last == "[" {
                    index += 1
                    return arrayElement(after: ",")
                }
            default:
                if scalar.value > 0x7F { return "\"\(Character(scalar))\" is allowed only in a string or a comment" }
            }
            return advance()
        }

        /// A key, possibly dotted, at `index` (after blanks): each part bare or quoted.
        mutating func key(in place: String) -> String? {
            while true {
                skipBlanks()
                guard let first = at(0) else { return "\(place) needs a name before the end of the file" }
                if first == "\"" || first == "'" {
                    if let problem = string() { return problem }
                } else if Self.isBare(first) {
                    while let next = at(0), Self.isBare(next) { index += 1 }
                } else if first == "\n" || first == "\r" || first == "#" {
                    return "\(place) needs a name on its line"
                } else if first.value < 0x20 || first.value == 0x7F {
                    return advance()  // the control character's own message
                } else {
                    return "\(place) needs a name (bare: A-Z a-z 0-9 _ -, or quoted) where \(Self.describe(first)) is"
                }
                skipBlanks()
                guard at(0) == "." else { return nil }
                index += 1
            }
        }

        /// After `=`: a value on the same line.
        mutating func valueStart(after mark: String) -> String? {
            guard let next = at(0) else { return "a value is missing after \(mark) at the end of the file" }
            switch next {
            case "\n", "\r", "#", ",", "]", "}": return "a value is missing after \(mark)"
            default: return nil
            }
        }

        /// After an array's `[` or `,`: blanks, line ends and comments, then a value or the `]`.
        mutating func arrayElement(after mark: String) -> String? {
            while let next = at(0) {
                switch next {
                case " ", "\t", "\r", "\n":
                    if let problem = advance() { return problem }
                case "#":
                    if let problem = comment() { return problem }
                case ",", "}": return "a value is missing after \(mark) in an array"
                default: return nil
                }
            }
            return nil
        }

        static func describe(_ scalar: Unicode.Scalar) -> String {
            scalar.value < 0x20 || scalar.value == 0x7F
                ? codePoint(scalar.value) : "\"\(Character(scalar))\""
        }

        /// `U+0018`: four hex digits at least.
        static func codePoint(_ value: UInt32) -> String {
            let hex = String(value, radix: 16, uppercase: true)
            return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        }

        mutating func comment() -> String? {
            while let next = at(0), next != "\n" {
                if let problem = advance() { return problem }
            }
            return nil
        }

        /// A basic or literal string, one line or several, from its opening quote past its close.
        mutating func string() -> String? {
            let quote = scalars[index]
            let multiline = at(1) == quote && at(2) == quote
            index += multiline ? 3 : 1
            while let next = at(0) {
                if quote == "\"" && next == "\\" {
                    if let problem = advance() { return problem }
                    guard at(0) != nil else { return nil }
                    if let problem = advance() { return problem }
                    continue
                }
                if next == quote && (!multiline || (at(1) == quote && at(2) == quote)) {
                    index += multiline ? 3 : 1
                    // Up to two more quotes may close a multi-line string.
                    while multiline, at(0) == quote { index += 1 }
                    return nil
                }
                if next == "\n" && !multiline { return nil }  // unterminated: the parser says so
                if let problem = advance() { return problem }
            }
            return nil
        }
    }
}

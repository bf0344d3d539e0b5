/// One-time pairing codes, as `porchlight-sync pair-code` prints them: `XXXX-XXXX-YYYY-YYYY-YYYY`,
/// from an alphabet without look-alikes (no 0/O, 1/I/L). The first 8 characters are the secret
/// the sync module keeps (40 bits, valid minutes, used once, tries rate-limited). The last 12 bind
/// the code to the sync module's certificate: 59 bits of its SHA-256, so that the doorbell, which
/// fetches the certificate over an unverified connection, finds a man in the middle without the
/// owner typing a fingerprint.
public enum PairingCode {
    static let alphabet = Array("23456789ABCDEFGHJKMNPQRSTUVWXYZ")
    static let secretLength = 8
    static let bindingLength = 12

    /// A new secret, `XXXX-XXXX`: what the sync module stores.
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let characters = (0..<secretLength).map { _ in
            alphabet[Int.random(in: 0..<alphabet.count, using: &generator)]
        }
        return grouped(characters)
    }

    /// The whole code to print for `secret` and the certificate it binds, by its SHA-256
    /// fingerprint (hex, colons optional).
    public static func printed(secret: String, fingerprint: String) -> String {
        secret + "-" + grouped(binding(fingerprint: fingerprint))
    }

    /// The binding characters of a certificate: its fingerprint's first 8 bytes in base 31.
    static func binding(fingerprint: String) -> [Character] {
        let hex = Array(fingerprint.uppercased().filter { $0.isHexDigit }.prefix(16))
        var value = UInt64(String(hex), radix: 16) ?? 0
        return (0..<bindingLength).map { _ in
            defer { value /= UInt64(alphabet.count) }
            return alphabet[Int(value % UInt64(alphabet.count))]
        }
    }

    /// A code as typed, split: the secret to send (`XXXX-XXXX`), and the binding, nil for a code of
    /// the secret alone. Case, dashes and spaces do not matter.
    public static func parse(_ typed: String) throws(PairingCodeError) -> (secret: String, binding: String?) {
        let characters = Array(typed.uppercased().filter { $0 != "-" && $0 != " " })
        guard characters.allSatisfy({ alphabet.contains($0) }) else {
            throw .malformed("a pairing code has only the characters 2-9 and A-Z without I, L and O")
        }
        switch characters.count {
        case secretLength: return (grouped(characters), nil)
        case secretLength + bindingLength:
            return (grouped(Array(characters[..<secretLength])), String(characters[secretLength...]))
        default:
            throw .malformed(
                "a pairing code has \(secretLength + bindingLength) characters (XXXX-XXXX-XXXX-XXXX-XXXX); this one has \(characters.count)"
            )
        }
    }

    /// Whether `binding` (from `parse`) is the one of the certificate with this fingerprint.
    public static func binds(_ binding: String, fingerprint: String) -> Bool {
        String(Self.binding(fingerprint: fingerprint)) == binding
    }

    static func grouped(_ characters: [Character]) -> String {
        stride(from: 0, to: characters.count, by: 4).map { String(characters[$0..<min($0 + 4, characters.count)]) }
            .joined(separator: "-")
    }
}

public enum PairingCodeError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    public var description: String {
        switch self {
        case .malformed(let reason): reason
        }
    }
}

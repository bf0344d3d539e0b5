/// One-time pairing codes: 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L),
/// shown as XXXX-XXXX. 40 bits, valid minutes, used once, and attempts are rate-limited.
public enum PairingCode {
    static let alphabet = Array("23456789ABCDEFGHJKMNPQRSTUVWXYZ")

    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let characters = (0..<8).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }
        return String(characters[0..<4]) + "-" + String(characters[4...])
    }
}

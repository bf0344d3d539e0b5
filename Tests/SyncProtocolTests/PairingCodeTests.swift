import Testing

@testable import SyncProtocol

@Suite("Pairing codes bound to the certificate")
struct PairingCodeTests {
    static let fingerprint = "9F:71:0A:33:" + Array(repeating: "5C", count: 28).joined(separator: ":")

    @Test("the printed code parses back to its secret and binds only its own certificate")
    func binding() throws {
        let secret = PairingCode.make()
        let code = PairingCode.printed(secret: secret, fingerprint: Self.fingerprint)
        #expect(code.count == 24 && code.split(separator: "-").count == 5)
        let (parsed, binding) = try PairingCode.parse(code.lowercased().replacingOccurrences(of: "-", with: " "))
        #expect(parsed == secret)
        let bound = try #require(binding)
        #expect(PairingCode.binds(bound, fingerprint: Self.fingerprint))
        #expect(PairingCode.binds(bound, fingerprint: Self.fingerprint.replacingOccurrences(of: ":", with: "")))
        // One bit of the fingerprint's first 8 bytes changes the binding.
        #expect(!PairingCode.binds(bound, fingerprint: "9F:71:0A:32" + Self.fingerprint.dropFirst(11)))
        // A typo in the binding is caught the same way.
        var typo = Array(bound)
        typo[5] = typo[5] == "A" ? "B" : "A"
        #expect(!PairingCode.binds(String(typo), fingerprint: Self.fingerprint))
    }

    @Test("a code of the secret alone parses without a binding; other lengths and letters are refused")
    func shapes() throws {
        #expect(try PairingCode.parse("7kq4-mx2p") == ("7KQ4-MX2P", nil))
        for bad in ["7KQ4-MX2", "7KQ4-MX2P-AAAA", "7KQ4-MX2O", "7KQ4-MX2P-AAAA-BBBB-CCCC-D", ""] {
            #expect(throws: PairingCodeError.self, "\(bad)") { try PairingCode.parse(bad) }
        }
    }
}

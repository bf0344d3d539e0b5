import Foundation
import Testing

@testable import SyncProtocol

@Suite("Pairing codes bound to the certificate", .timeLimit(.minutes(10)))
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

    /// A certificate made by OpenSSL, and the fingerprint `openssl x509 -fingerprint -sha256`
    /// printed for it: an independent check of the DER and the hash the pairing code binds.
    static let openSSLCertificate = """
        -----BEGIN CERTIFICATE-----
        MIIBiDCCAS+gAwIBAgIUGj6kddycoTWjSF1aRVzUEtaJ0ZkwCgYIKoZIzj0EAwIw
        GjEYMBYGA1UEAwwPcG9yY2hsaWdodC1zeW5jMB4XDTI2MTIwMjEwMTA1N1oXDTM2
        MTEyOTEwMTA1N1owGjEYMBYGA1UEAwwPcG9yY2hsaWdodC1zeW5jMFkwEwYHKoZI
        zj0CAQYIKoZIzj0DAQcDQgAEHB1f6tas8iLLKI2egMrzLVFuuA7TRJIwhQjKRQiN
        Y74+0SItFJFXzMDBRsy7GJ64Y1iB0MQdqjo4jm8XJlNGJaNTMFEwHQYDVR0OBBYE
        FIkjQ/bXTFUS/HLvQCYEdJyzbHIyMB8GA1UdIwQYMBaAFIkjQ/bXTFUS/HLvQCYE
        dJyzbHIyMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgFGlshCbj
        IKANo4xPQDoC36oPTJTZ44/X9iFuhlYmWEgCICtbXoHfmWUPElSqSsxWygRvBRyL
        qZ8RqVhhQ3VUWggJ
        -----END CERTIFICATE-----
        """
    static let openSSLFingerprint =
        "9A:98:F0:F9:5E:7D:E1:FA:D6:F0:DC:96:BD:E5:41:C7:96:90:82:B6:C6:AD:02:D0:5D:46:BD:65:61:4E:04:C7"

    static func reply(_ object: [String: String]) throws -> Data { try JSONEncoder().encode(object) }

    @Test("the certificate reply yields the PEM and OpenSSL's fingerprint; anything but one PEM certificate is refused")
    func certificateReply() throws {
        let (pem, fingerprint) = try PairingExchange.certificate(
            fromReply: Self.reply(["certificate": Self.openSSLCertificate]))
        #expect(pem == Self.openSSLCertificate)
        #expect(fingerprint == Self.openSSLFingerprint)
        let twice = Self.openSSLCertificate + "\n" + Self.openSSLCertificate
        let key =
            "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----"
        for bad in [twice, key, "", "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----"] {
            #expect(throws: PairingReplyError.malformedCertificate) {
                try PairingExchange.certificate(fromReply: Self.reply(["certificate": bad]))
            }
        }
        for bad in [Data("not json".utf8), try Self.reply(["cert": Self.openSSLCertificate]), Data()] {
            #expect(throws: PairingReplyError.notACertificateReply) { try PairingExchange.certificate(fromReply: bad) }
        }
    }

    @Test("a pairing request needs a short code, a 32-byte key and a name of 1 to 64 characters")
    func pairingRequest() throws {
        let key = Data(repeating: 7, count: 32)
        let good = try PairingExchange.requestBody(code: "7KQ4-MX2P", publicKey: key, name: "Front")
        #expect(PairingExchange.request(from: good) == .init(code: "7KQ4-MX2P", publicKey: key, name: "Front"))
        for bad in [
            try PairingExchange.requestBody(code: "7KQ4-MX2P", publicKey: Data(count: 31), name: "Front"),
            try PairingExchange.requestBody(code: "7KQ4-MX2P", publicKey: key, name: ""),
            try PairingExchange.requestBody(code: "7KQ4-MX2P", publicKey: key, name: String(repeating: "n", count: 65)),
            try PairingExchange.requestBody(code: String(repeating: "7", count: 65), publicKey: key, name: "Front"),
            Data(#"{"code":"7KQ4-MX2P","name":"Front"}"#.utf8),
        ] {
            #expect(PairingExchange.request(from: bad) == nil)
        }
    }

    @Test("a pairing reply's device id is one short printable token; a refusal's reason is bounded and printable")
    func pairingReply() throws {
        #expect(PairingExchange.deviceID(fromReply: try Self.reply(["deviceID": "d-5f2c9a01"])) == "d-5f2c9a01")
        for bad in ["", "../../etc", "a b", String(repeating: "x", count: 129), "new\nline"] {
            #expect(PairingExchange.deviceID(fromReply: try Self.reply(["deviceID": bad])) == nil, "\(bad)")
        }
        let reason = PairingExchange.refusal(
            fromReply: try Self.reply(["error": "wrong\u{1B}[31m" + String(repeating: "!", count: 500)]))
        #expect(reason?.count == 200)
        #expect(reason?.hasPrefix("wrong[31m") == true)
    }
}

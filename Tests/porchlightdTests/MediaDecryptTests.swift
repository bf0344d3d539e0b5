import DoorbellTestKit
import Foundation
import Privacy
import Testing

/// `porchlightctl media decrypt`, run as the owner would with the recovery key.
@Suite("porchlightctl media decrypt", .timeLimit(.minutes(10)))
struct MediaDecryptTests {
    static func base64url(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test("the recovery key or a JWK opens a sealed clip; a cut one opens partly; another key is refused")
    func decrypt() async throws {
        let directory = try TemporaryDirectory()
        let recovery = OwnerKey()
        let plaintext = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var sealer = try MediaSealer(media: "evt-clip", kind: "clip", recipients: [recovery.publicKey])
        let sealed = sealer.header + sealer.seal(plaintext) + sealer.finish()
        let input = directory.path + "/clip.mkv"
        try Data(sealed).write(to: URL(fileURLWithPath: input))
        let text = "porchlight-recovery-key:" + Self.base64url(recovery.rawRepresentation)

        let output = directory.path + "/clip.plain.mkv"
        let ctl = try ChildProcess(
            "porchlightctl", arguments: ["media", "decrypt", "--key", text, input, "-o", output])
        #expect(try await ctl.runToExit() == 0, "stderr:\n\(ctl.stderr)")
        #expect(FileManager.default.contents(atPath: output) == Data(plaintext))
        #expect(ctl.stderr.contains("complete, 200000 bytes"))

        let jwk = try directory.write(
            "key.jwk", "{\"kty\":\"EC\",\"crv\":\"P-256\",\"d\":\"\(Self.base64url(recovery.rawRepresentation))\"}")
        let cut = directory.path + "/cut.mkv"
        try Data(sealed.dropLast(1000)).write(to: URL(fileURLWithPath: cut))
        let partial = try ChildProcess(
            "porchlightctl", arguments: ["media", "decrypt", "--key", jwk, cut, "-o", output])
        #expect(try await partial.runToExit() == 0, "stderr:\n\(partial.stderr)")
        #expect(partial.stderr.contains("incomplete"))
        #expect(FileManager.default.contents(atPath: output) == Data(plaintext.prefix(3 * 65_536)))

        let other = "porchlight-recovery-key:" + Self.base64url(OwnerKey().rawRepresentation)
        let refused = try ChildProcess("porchlightctl", arguments: ["media", "decrypt", "--key", other, input])
        #expect(try await refused.runToExit() == 65)
        #expect(refused.stderr.contains("sealed for other keys"))
    }
}

import ArgumentParser
import Foundation
import Privacy

/// `porchlightctl media decrypt`: opens a sealed snapshot or clip (docs/privacy.md) with one of the
/// owner's private keys, for when no browser is at hand: the recovery key as printed on the keys
/// page, or a P-256 private key as a JWK file.
struct MediaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "media", abstract: "Work with sealed media.", subcommands: [Decrypt.self])

    struct Decrypt: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decrypt a sealed snapshot or clip with the owner's key.",
            discussion: """
                KEY is the recovery key as the keys page showed it (porchlight-recovery-key:...), or a file \
                holding it or a P-256 private key as a JWK. A partial item (an upload in progress, a clip cut \
                short) is decrypted up to its last whole chunk and reported as incomplete; an altered one is \
                refused.
                """)

        @Option(help: "The owner's private key: the recovery key text, or a file with it or a JWK.")
        var key: String
        @Argument(help: "The sealed file.")
        var input: String
        @Option(name: .shortAndLong, help: "Where to write the plaintext (default: standard output).")
        var output: String?

        func run() throws {
            let owner = try Self.ownerKey(key)
            guard let sealed = FileManager.default.contents(atPath: input) else {
                throw ValidationError("cannot read \(input)")
            }
            let opened: SealedMedia.Opened
            do {
                opened = try SealedMedia.open(Array(sealed), with: owner)
            } catch {
                printError("porchlightctl: \(input): \(error)")
                throw ExitCode(65)  // EX_DATAERR
            }
            if let output {
                try Data(opened.plaintext).write(to: URL(fileURLWithPath: output))
            } else {
                FileHandle.standardOutput.write(Data(opened.plaintext))
            }
            printError(
                opened.complete
                    ? "\(input): complete, \(opened.plaintext.count) bytes"
                    : "\(input): incomplete (an upload in progress or a cut clip), \(opened.plaintext.count) bytes")
        }

        /// The recovery key text (`porchlight-recovery-key:` and the base64url private scalar), or a
        /// file with it or with a JWK.
        static func ownerKey(_ argument: String) throws -> OwnerKey {
            var text = argument.trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.hasPrefix("porchlight-recovery-key:"), let file = FileManager.default.contents(atPath: text) {
                text = String(decoding: file, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            var scalar = text
            if text.hasPrefix("porchlight-recovery-key:") {
                scalar = String(text.dropFirst("porchlight-recovery-key:".count))
            } else if let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                let d = json["d"] as? String
            {
                scalar = d
            } else {
                throw ValidationError("--key: expected porchlight-recovery-key:..., or a file with it or a JWK")
            }
            var base64 = scalar.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
            guard let raw = Data(base64Encoded: base64), raw.count == 32,
                let key = try? OwnerKey(rawRepresentation: raw)
            else { throw ValidationError("--key: not a P-256 private key") }
            return key
        }
    }
}

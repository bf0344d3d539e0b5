import ArgumentParser
import Config
import Foundation
import Uplink

/// Pairs this doorbell with a sync module: makes the device key, pins the module's certificate,
/// registers the key with a one-time code.
struct Pair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pair this doorbell with a sync module, using a code from `porchlight-sync pair-code`.")

    @OptionGroup var options: ConfigOption
    @Option(help: "The sync module, https://host:port.")
    var sync: String
    @Option(help: "The one-time pairing code.")
    var code: String
    @Option(help: "The certificate fingerprint `pair-code` printed; pairing stops if it differs.")
    var fingerprint: String?

    func validate() throws {
        guard sync.hasPrefix("https://") else { throw ValidationError("--sync must be an https:// address") }
    }

    func run() async throws {
        let config = try options.load()
        try FileManager.default.createDirectory(
            atPath: config.storage.stateDirectory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        do {
            let record = try await PairingClient.pair(
                url: sync, code: code, name: config.device.name, expectedFingerprint: fingerprint,
                stateDirectory: config.storage.stateDirectory)
            print("Paired with \(record.url) as device \(record.deviceID).")
            print("Pinned certificate \(record.fingerprint).")
            if fingerprint == nil {
                print("Compare that fingerprint with the one `porchlight-sync pair-code` printed.")
            }
            print("A running porchlightd starts sending within a few seconds.")
        } catch {
            printError("porchlightctl: \(error)")
            throw ExitCode(1)
        }
    }
}

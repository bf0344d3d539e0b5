import ArgumentParser
import Config
import Foundation
import Uplink

#if canImport(Glibc)
    import Glibc
#endif

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
    @Option(
        help: ArgumentHelp(
            "The recovery key's fingerprint on the owner's Keys page: the doorbell pins that key.",
            discussion: "Without it, pair shows the key the sync module offers and asks (on a terminal)."))
    var recoveryFingerprint: String?

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
            try pinRecovery(record, stateDirectory: config.storage.stateDirectory)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("porchlightctl: \(error)")
            throw ExitCode(1)
        }
    }

    /// Pins the recovery key the sync module offered, once the owner has compared its fingerprint
    /// (docs/privacy.md, "Key trust"): never on the sync module's word alone.
    func pinRecovery(_ record: PairingRecord, stateDirectory: String) throws {
        let keys = OwnerKeysFile(stateDirectory: stateDirectory)
        guard let offered = record.recoveryKey else {
            print(
                "The owner has no recovery key yet: media stays on this doorbell, unsent. Make your key on the "
                    + "sync module's Keys page, then run `porchlightctl keys trust FINGERPRINT` here.")
            return
        }
        let shown = OwnerKeysFile.fingerprint(offered)
        if let pinned = keys.pinnedRecovery() {
            // Re-pairing keeps the pin; only `keys reset` on the doorbell changes it.
            if pinned == offered {
                print("Recovery key \(shown) is pinned already.")
            } else {
                printError(
                    "porchlightctl: the sync module offers the recovery key \(shown), but "
                        + "\(OwnerKeysFile.fingerprint(pinned)) is pinned here and stays; `porchlightctl keys reset` "
                        + "first if the owner made a new one")
            }
            return
        }
        let confirmed: Bool
        if let given = recoveryFingerprint {
            guard OwnerKeysFile.matches(given, offered) else {
                printError(
                    "porchlightctl: the sync module offers the recovery key \(shown), not \(given): not pinned. "
                        + "Check the Keys page; a sync module that offers another key may not be yours.")
                throw ExitCode(1)
            }
            confirmed = true
        } else if isatty(STDIN_FILENO) == 1 {
            print("The owner's recovery key is \(shown).")
            print("Is that the recovery key on your Keys page? [y/N] ", terminator: "")
            confirmed = readLine()?.lowercased().hasPrefix("y") == true
        } else {
            confirmed = false
        }
        guard confirmed else {
            print(
                "Recovery key \(shown) not pinned: media stays on this doorbell, unsent. Compare it with the Keys "
                    + "page, then run `porchlightctl keys trust \(shown)`.")
            return
        }
        do {
            try keys.trust(point: offered, fingerprint: shown)
        } catch {
            printError("porchlightctl: \(error)")
            throw ExitCode(1)
        }
        print("Pinned recovery key \(shown): media is sealed for it and the keys it signed.")
    }
}

/// The owner's keys on this doorbell: which recovery key it trusts.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Pin or reset the owner's recovery key on this doorbell.",
        subcommands: [Trust.self, Reset.self])

    struct Trust: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pin the recovery key with this fingerprint, as the Keys page shows it.",
            discussion: "The key must have arrived from the sync module (or at pairing); run as the daemon's user.")

        @OptionGroup var options: ConfigOption
        @Argument(help: "The recovery key's fingerprint (at least 16 hex digits).")
        var fingerprint: String

        func run() throws {
            let state = try options.load().storage.stateDirectory
            let offered = (try? PairingRecord.load(from: state))??.0.recoveryKey
            do {
                let pinned = try OwnerKeysFile(stateDirectory: state).trust(point: offered, fingerprint: fingerprint)
                print("Pinned recovery key \(OwnerKeysFile.fingerprint(pinned)).")
            } catch {
                printError("porchlightctl: \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Reset: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget the pinned recovery key and the owner's keys; media is held until one is pinned again.")

        @OptionGroup var options: ConfigOption
        @Flag(help: "Confirm: the owner starts over with a new recovery key.")
        var yes = false

        func run() throws {
            guard yes else {
                printError("porchlightctl: this forgets the pinned recovery key; add --yes to do it")
                throw ExitCode(1)
            }
            try OwnerKeysFile(stateDirectory: try options.load().storage.stateDirectory).reset()
            print("The recovery key is forgotten: media stays on this doorbell until `porchlightctl keys trust`.")
        }
    }
}

import ArgumentParser
import Foundation
import SyncProtocol
import Uplink

/// `porchlightctl audit verify`: checks the doorbell's access log and its mirror of the sync
/// module's, then asks the sync module for its copies and compares (docs/privacy.md, "Access log").
/// Exit 0: every copy checked and intact; 1: something was altered (each finding names the entry);
/// 69: the sync module could not be asked, so only the doorbell's copies were checked.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Check the access log.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify the access logs on this doorbell and the sync module, and compare them.",
            discussion: """
                Checks every entry's hash and signature and the order of the entries, in this doorbell's log, \
                in its mirror of the sync module's log, and in what the sync module serves now; then compares the \
                copies, so that an entry edited, deleted, reordered or inserted on either side is named. \
                --sync-copy takes the file the access log page downloads instead of asking the sync module.
                """)

        @OptionGroup var options: ConfigOption
        @Option(help: "A copy of the sync module's log (the access log page's Download), instead of asking it.")
        var syncCopy: String?
        @Flag(help: "Check only the copies on this doorbell.")
        var local = false

        func run() async throws {
            let config = try options.load()
            let state = config.storage.stateDirectory
            guard let key = FileManager.default.contents(atPath: PairingRecord.keyPath(in: state)) else {
                printError(
                    "porchlightctl: \(PairingRecord.keyPath(in: state)) does not exist: this doorbell has "
                        + "not started yet, so it has no access log")
                throw ExitCode(66)  // EX_NOINPUT
            }
            let identity = try DeviceIdentity(privateKeyBytes: key)
            let log = try DoorbellAccessLog(stateDirectory: state, identity: identity, logger: .init(label: "audit"))
            var export: AccessLogExport?
            var unreachable: String?
            if let syncCopy {
                guard let data = FileManager.default.contents(atPath: syncCopy),
                    let decoded = try? JSONDecoder().decode(AccessLogExport.self, from: data)
                else { throw ValidationError("\(syncCopy) is not an access log downloaded from the sync module") }
                export = decoded
            } else if !local {
                do {
                    if let (pairing, _) = try PairingRecord.load(from: state) {
                        export = try await AccessAudit.fetch(pairing: pairing, identity: identity)
                    } else {
                        unreachable = "this doorbell is not paired"
                    }
                } catch {
                    unreachable = "\(error)"
                }
            }
            let audit = AccessAudit(
                deviceID: identity.deviceID, devicePublicKey: identity.publicKey,
                own: DoorbellAccessLog.read(log.ownPath, log: identity.deviceID),
                mirror: DoorbellAccessLog.read(log.mirrorPath, log: "sync"), pinnedSyncKey: log.pinnedSyncKey(),
                export: export)
            print("This doorbell signs with \(AccessSigner.fingerprint(of: identity.publicKey)).")
            for section in audit.sections {
                let verdict = section.findings.isEmpty ? "intact" : "ALTERED"
                let notes = section.notes.isEmpty ? "" : " (\(section.notes.joined(separator: "; ")))"
                print("\(section.title): \(section.count) entries, \(verdict)\(notes)")
                for finding in section.findings { print("  - \(finding)") }
            }
            if let unreachable {
                print("The sync module was not compared: \(unreachable).")
            }
            if !audit.passed { throw ExitCode(1) }
            if unreachable != nil { throw ExitCode(69) }
        }
    }
}

import DoorbellCore
import Logging
import Uplink

/// What the local control socket (`porchlightctl`) understands: `ring`, `dnd [on|off|auto]`, `status`.
public struct LocalCommands: Sendable {
    let simulator: ButtonSimulator
    let outbox: Outbox
    let ownerKeys: OwnerKeysFile
    let doNotDisturb: DoNotDisturb
    /// The IR LEDs, if wired: `status` says whether they are lit.
    let illuminator: Illuminator?
    let registry: HealthRegistry
    let logger: Logger

    public init(
        simulator: ButtonSimulator, outbox: Outbox, ownerKeys: OwnerKeysFile, doNotDisturb: DoNotDisturb,
        illuminator: Illuminator?, registry: HealthRegistry, logger: Logger
    ) {
        self.simulator = simulator
        self.outbox = outbox
        self.ownerKeys = ownerKeys
        self.doNotDisturb = doNotDisturb
        self.illuminator = illuminator
        self.registry = registry
        self.logger = logger
    }

    public func handle(_ line: String) -> String {
        let words = line.split(separator: " ").map(String.init)
        switch (words.first, words.count) {
        case ("ring", 1):
            logger.info("Ring requested on the control socket.")
            simulator.press()
            return "ok: ring"
        case ("dnd", 1):
            return "ok: do not disturb is \(doNotDisturb.mode.rawValue)"
        case ("dnd", 2):
            guard let mode = DoNotDisturb.Mode(rawValue: words[1]) else {
                return "error: expected dnd on, dnd off or dnd auto"
            }
            doNotDisturb.mode = mode
            logger.notice("Do not disturb set on the control socket.", metadata: [LogKey.state: "\(mode.rawValue)"])
            return "ok: do not disturb is \(mode.rawValue)"
        case ("status", 1):
            let backlog = (try? outbox.backlog()).map { "; outbox: \($0.pending) waiting" } ?? ""
            let lights = illuminator.map { "; IR LEDs \($0.isLit == true ? "on" : "off")" } ?? ""
            return "ok: \(registry.statusLine())\(backlog)\(lights); \(sealing())"
        default:
            return "error: unknown command \"\(line)\"; expected ring, dnd [on|off|auto] or status"
        }
    }
}

extension LocalCommands {
    /// Which keys media is sealed for, by label and id, for the owner to compare with the Keys page
    /// (a key the owner does not know there was not added by the owner).
    func sealing() -> String {
        switch ownerKeys.recipients() {
        case nil: return "media held on the doorbell, unsent: no recovery key pinned (porchlightctl keys trust)"
        case let keys? where keys.isEmpty: return "no owner key left: media is not kept"
        default:
            let labels = Dictionary(ownerKeys.load().map { ($0.publicKey, $0.label) }) { first, _ in first }
            let keys = ownerKeys.recipients() ?? []
            let recovery =
                ownerKeys.pinnedRecovery().map {
                    "; pinned recovery key \(OwnerKeysFile.fingerprint($0))"
                } ?? "; no recovery key pinned"
            return "media sealed for: " + keys.map { "\(labels[$0.base64] ?? "?") \($0.id)" }.joined(separator: ", ")
                + recovery
        }
    }
}

import Foundation
import Logging
import Privacy
import SyncProtocol

/// The owner's public keys as the doorbell keeps them (`owner-keys.json` in the state directory,
/// owner-only): what it seals snapshots, clips and live view for. The sync module sends them when
/// the control channel opens and whenever the owner adds or revokes one; a revoked key is simply
/// absent from the next list.
///
/// It fails closed. `owner-keys.pin` beside it records, once and apart from the list, that the
/// owner has had a key and which recovery key is pinned. A list that is corrupt, unreadable, or
/// missing while the pin says there was one leaves nothing to seal for: the doorbell keeps no
/// media and refuses live view (STATUS says why) until the sync module's next list, checked
/// against the pin, replaces it. Only with neither file is the doorbell new, and unsealed.
public struct OwnerKeysFile: Sendable {
    public let path: String
    let pinPath: String

    public init(stateDirectory: String) {
        path = stateDirectory + "/owner-keys.json"
        pinPath = stateDirectory + "/owner-keys.pin"
    }

    /// What the pin file keeps: that sealing is required, and the pinned recovery key.
    struct Pin: Codable, Equatable {
        var sealingRequired: Bool
        var recovery: String?
    }

    /// Why the keys cannot be trusted.
    public struct Unreadable: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// A file's bytes; nil when it does not exist; an error when it exists and cannot be read.
    static func contents(_ path: String) throws(Unreadable) -> Data? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Unreadable(description: "\((path as NSString).lastPathComponent) cannot be read")
        }
        return data
    }

    /// The pin, nil when there is none yet.
    func pin() throws(Unreadable) -> Pin? {
        guard let data = try Self.contents(pinPath) else { return nil }
        guard let pin = try? JSONDecoder().decode(Pin.self, from: data) else {
            throw Unreadable(description: "owner-keys.pin is corrupt")
        }
        return pin
    }

    /// The list and the pin together, or why they cannot be trusted.
    func read() throws(Unreadable) -> Stored {
        let pin = try pin()
        guard let data = try Self.contents(path) else {
            if pin?.sealingRequired == true || pin?.recovery != nil {
                throw Unreadable(description: "owner-keys.json is missing, though the owner has had keys")
            }
            return Stored(keys: [], sealingRequired: false)
        }
        guard var stored = try? JSONDecoder().decode(Stored.self, from: data) else {
            throw Unreadable(description: "owner-keys.json is corrupt")
        }
        if let pin {
            if let recovery = pin.recovery, stored.recovery != recovery {
                throw Unreadable(description: "owner-keys.json names another recovery key than the pin")
            }
            stored.sealingRequired = stored.sealingRequired || pin.sealingRequired
        }
        return stored
    }

    /// Why the keys cannot be trusted just now, if they cannot (for STATUS).
    public var problem: String? {
        do {
            _ = try read()
            return nil
        } catch {
            return error.description
        }
    }

    /// What the file holds: the keys, and whether sealing is required (the owner has had a key),
    /// written together so that a crash cannot keep one without the other.
    struct Stored: Codable, Equatable {
        var keys: [OwnerKeyWire]
        var sealingRequired: Bool
        /// The owner's recovery key (base64 point), pinned from the first list that had one.
        var recovery: String?
    }

    /// What `save` did: whether the list changed, the keys refused because the pinned recovery key
    /// did not vouch for them, and whether the recovery key was pinned just now.
    public struct Outcome: Sendable, Equatable {
        public var changed: Bool
        public var refused: [OwnerKeyWire]
        public var pinnedNow: Bool
    }

    /// The keys to seal for: nil while the owner has never had one; empty when every key was
    /// revoked (or the sync module sent none) after keys existed, or when the files cannot be
    /// trusted, and then nothing can be sealed.
    public func recipients() -> [OwnerPublicKey]? {
        guard let current = try? read() else { return [] }
        let keys = current.keys.compactMap { try? OwnerPublicKey(base64: $0.publicKey) }
        return keys.isEmpty && !current.sealingRequired ? nil : keys
    }

    public func load() -> [OwnerKeyWire] { (try? read())?.keys ?? [] }

    /// The pinned recovery key (its point, base64), if any.
    public func pinnedRecovery() -> String? { (try? pin())?.recovery ?? (try? read())?.recovery }

    /// Replaces the list atomically (write, fsync, rename). Once the owner has had a key, media is
    /// sealed or not kept, for good. The first list with a recovery key pins it; from then on only
    /// the recovery key and the keys it signed are kept (docs/privacy.md, "Key trust"). Before any
    /// recovery key was seen, every key is kept, as the first pairing trusts the sync module.
    ///
    /// A list that cannot be trusted is rebuilt from the pin, so the next list from the sync
    /// module repairs it; with no readable pin either, nothing is saved.
    @discardableResult
    public func save(_ keys: [OwnerKeyWire]) throws -> Outcome {
        let pin = try pin()
        let old: Stored
        do {
            old = try read()
        } catch {
            guard let pin else { throw error }
            old = Stored(keys: [], sealingRequired: pin.sealingRequired, recovery: pin.recovery)
        }
        let recovery = old.recovery ?? keys.first { $0.label == "recovery" }?.publicKey
        var kept = keys
        var refused: [OwnerKeyWire] = []
        if let recovery, let recoveryPoint = Data(base64Encoded: recovery) {
            (kept, refused) = (
                keys.filter { Self.vouched($0, by: recoveryPoint) },
                keys.filter { !Self.vouched($0, by: recoveryPoint) }
            )
        }
        let new = Stored(keys: kept, sealingRequired: old.sealingRequired || !kept.isEmpty, recovery: recovery)
        let outcome = Outcome(changed: new != old, refused: refused, pinnedNow: old.recovery == nil && recovery != nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // The pin first: a crash between the two leaves a pin that says more, never less.
        let newPin = Pin(sealingRequired: new.sealingRequired, recovery: new.recovery)
        if newPin != pin, newPin.sealingRequired || newPin.recovery != nil {
            try StateFile.replace(pinPath, with: try encoder.encode(newPin))
        }
        // Rewritten when it changed, and when what is on disk could not be read.
        guard new != old || (try? read()) == nil else { return outcome }
        try StateFile.replace(path, with: try encoder.encode(new))
        return Outcome(changed: true, refused: refused, pinnedNow: outcome.pinnedNow)
    }

    static func vouched(_ key: OwnerKeyWire, by recoveryPoint: Data) -> Bool {
        guard let point = Data(base64Encoded: key.publicKey) else { return false }
        if point == recoveryPoint { return true }
        guard let signature = key.signature.flatMap({ Data(base64Encoded: $0) }) else { return false }
        return KeyEndorsement.isValid(signature, for: point, by: recoveryPoint)
    }
}

extension OwnerKeysFile {
    /// A key's fingerprint to compare by eye with the keys page: its id (the first 16 bytes of the
    /// SHA-256 of its point) in groups of four hex digits.
    public static func fingerprint(_ base64Point: String) -> String {
        guard let key = try? OwnerPublicKey(base64: base64Point) else { return "invalid" }
        return OwnerPublicKey.fingerprint(ofID: key.id)
    }
}

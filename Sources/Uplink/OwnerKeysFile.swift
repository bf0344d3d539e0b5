import Foundation
import Logging
import Privacy
import SyncProtocol

/// The owner's public keys as the doorbell keeps them (`owner-keys.json` in the state directory,
/// owner-only): what it seals snapshots, clips and live view for. The sync module sends them when
/// the control channel opens and whenever the owner adds or revokes one; a revoked key is simply
/// absent from the next list.
public struct OwnerKeysFile: Sendable {
    public let path: String

    public init(stateDirectory: String) {
        path = stateDirectory + "/owner-keys.json"
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

    func stored() -> Stored {
        guard let data = FileManager.default.contents(atPath: path),
            let stored = try? JSONDecoder().decode(Stored.self, from: data)
        else { return Stored(keys: [], sealingRequired: false) }
        return stored
    }

    /// The keys to seal for: nil while the owner has never had one; empty when every key was
    /// revoked (or the sync module sent none) after keys existed, and then nothing can be sealed.
    public func recipients() -> [OwnerPublicKey]? {
        let current = stored()
        let keys = current.keys.compactMap { try? OwnerPublicKey(base64: $0.publicKey) }
        return keys.isEmpty && !current.sealingRequired ? nil : keys
    }

    public func load() -> [OwnerKeyWire] { stored().keys }

    /// The pinned recovery key (its point, base64), if any.
    public func pinnedRecovery() -> String? { stored().recovery }

    /// Replaces the list atomically (write, fsync, rename). Once the owner has had a key, media is
    /// sealed or not kept, for good. The first list with a recovery key pins it; from then on only
    /// the recovery key and the keys it signed are kept (docs/privacy.md, "Key trust"). Before any
    /// recovery key was seen, every key is kept, as the first pairing trusts the sync module.
    @discardableResult
    public func save(_ keys: [OwnerKeyWire]) throws -> Outcome {
        let old = stored()
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
        guard new != old else { return outcome }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(new)
        try StateFile.replace(path, with: data)
        return outcome
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

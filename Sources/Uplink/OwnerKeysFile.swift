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

    /// Replaces the list atomically (write, fsync, rename); returns whether it changed. Once the
    /// owner has had a key, media is sealed or not kept, for good.
    @discardableResult
    public func save(_ keys: [OwnerKeyWire]) throws -> Bool {
        let old = stored()
        let new = Stored(keys: keys, sealingRequired: old.sealingRequired || !keys.isEmpty)
        guard new != old else { return false }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(new)
        try StateFile.replace(path, with: data)
        return true
    }
}

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

    /// The keys to seal for: nil while the owner has never had one; empty when every key was
    /// revoked (or the sync module sent none) after keys existed, and then nothing can be sealed.
    public func recipients() -> [OwnerPublicKey]? {
        let keys = load().compactMap { try? OwnerPublicKey(base64: $0.publicKey) }
        guard keys.isEmpty else { return keys }
        return FileManager.default.fileExists(atPath: path + ".required") ? [] : nil
    }

    public func load() -> [OwnerKeyWire] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return (try? JSONDecoder().decode([OwnerKeyWire].self, from: data)) ?? []
    }

    /// Replaces the list atomically (write, fsync, rename); returns whether it changed.
    @discardableResult
    public func save(_ keys: [OwnerKeyWire]) throws -> Bool {
        // Once the owner has had a key, media is sealed or not kept, for good.
        if !keys.isEmpty, !FileManager.default.fileExists(atPath: path + ".required") {
            guard FileManager.default.createFile(atPath: path + ".required", contents: Data()) else {
                throw CocoaError(.fileWriteUnknown)
            }
        }
        guard keys != load() else { return false }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(keys)
        let temporary = path + ".new"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600])
        else { throw CocoaError(.fileWriteUnknown) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        try handle.synchronize()
        try handle.close()
        guard rename(temporary, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        return true
    }
}

import Foundation
import Logging
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

    public func load() -> [OwnerKeyWire] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return (try? JSONDecoder().decode([OwnerKeyWire].self, from: data)) ?? []
    }

    /// Replaces the list atomically (write, fsync, rename); returns whether it changed.
    @discardableResult
    public func save(_ keys: [OwnerKeyWire]) throws -> Bool {
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

import Foundation
import Privacy
import SyncProtocol

/// What pairing leaves in the doorbell's state directory: the sync module's address, its pinned
/// certificate, and the device id it knows this doorbell by. The key itself is `device.key`.
public struct PairingRecord: Codable, Sendable, Equatable {
    public var url: String
    public var certificatePEM: String
    public var fingerprint: String
    public var deviceID: String
    /// The owner's recovery key the sync module offered at pairing (base64 point), if the owner had
    /// one: only offered, never pinned from here (`OwnerKeysFile.trust`).
    public var recoveryKey: String?

    public init(url: String, certificatePEM: String, fingerprint: String, deviceID: String, recoveryKey: String? = nil)
    {
        self.url = url
        self.certificatePEM = certificatePEM
        self.fingerprint = fingerprint
        self.deviceID = deviceID
        self.recoveryKey = recoveryKey
    }

    public static func path(in stateDirectory: String) -> String { stateDirectory + "/pairing.json" }
    public static func keyPath(in stateDirectory: String) -> String { stateDirectory + "/device.key" }

    /// The pairing, if this doorbell has been paired.
    public static func load(from stateDirectory: String) throws -> (PairingRecord, DeviceIdentity)? {
        guard let data = FileManager.default.contents(atPath: path(in: stateDirectory)) else { return nil }
        let record = try JSONDecoder().decode(PairingRecord.self, from: data)
        guard let key = FileManager.default.contents(atPath: keyPath(in: stateDirectory)) else { return nil }
        return (record, try DeviceIdentity(privateKeyBytes: key))
    }

    public func save(in stateDirectory: String) throws {
        let data = try JSONEncoder().encode(self)
        guard
            FileManager.default.createFile(
                atPath: Self.path(in: stateDirectory), contents: data, attributes: [.posixPermissions: 0o600])
        else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: Self.path(in: stateDirectory)]) }
    }

    /// The device key, made (mode 0600) if there is none yet.
    public static func identity(in stateDirectory: String) throws -> DeviceIdentity {
        let path = keyPath(in: stateDirectory)
        if let key = FileManager.default.contents(atPath: path) { return try DeviceIdentity(privateKeyBytes: key) }
        let identity = try DeviceIdentity()
        guard
            FileManager.default.createFile(
                atPath: path, contents: identity.privateKeyBytes, attributes: [.posixPermissions: 0o600])
        else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        return identity
    }

    /// The doorbell's talk key (P-256, `talk.key`, mode 0600), made if there is none yet: the
    /// owner's voice is sealed for it (`TalkSeal`).
    public static func talkKey(in stateDirectory: String) throws -> OwnerKey {
        let path = stateDirectory + "/talk.key"
        if let raw = FileManager.default.contents(atPath: path) { return try OwnerKey(rawRepresentation: raw) }
        let key = OwnerKey()
        guard
            FileManager.default.createFile(
                atPath: path, contents: key.rawRepresentation, attributes: [.posixPermissions: 0o600])
        else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        return key
    }

    /// The talk key's public point and the device key's signature over it, as STATUS reports carry them.
    public static func publishedTalkKey(_ key: OwnerKey, signedBy identity: DeviceIdentity) -> (
        point: Data, signature: Data
    )? {
        let point = key.publicKey.x963
        guard let signature = try? identity.signature(for: TalkSeal.keyMessage(point)) else { return nil }
        return (point, signature)
    }
}

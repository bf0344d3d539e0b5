import Foundation
import Logging
import Privacy
import SyncProtocol
import Synchronization

/// The owner's public keys as the doorbell keeps them (`owner-keys.json` in the state directory,
/// owner-only): what it seals snapshots, clips and live view for. The sync module sends them when
/// the control channel opens and whenever the owner adds or revokes one; a revoked key is simply
/// absent from the next list.
///
/// It fails closed. `owner-keys.pin` beside it records, apart from the list, which recovery key
/// the owner pinned and that sealing is required. The pin is set only where the owner sees the
/// key's fingerprint (`porchlightctl pair --recovery-fingerprint`, or `porchlightctl keys trust`
/// on the doorbell), never from the sync module alone, so that a sync module cannot make the
/// doorbell seal for a key of its own. Until a recovery key is pinned the doorbell is new: it holds
/// its snapshots and clips on its own storage, unsent, and seals them once it has a pin. A list
/// that is corrupt, unreadable, or missing while the pin says there was one leaves nothing to seal
/// for: the doorbell keeps no media and refuses live view (STATUS says why) until the sync
/// module's next list, checked against the pin, replaces it.
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
        // The pin is the authority: a list that names a recovery key the pin does not is trusted for nothing.
        stored.recovery = pin?.recovery
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
        /// The pinned recovery key (base64 point), as the pin has it.
        var recovery: String?
    }

    /// What `save` did: whether the list changed, and the keys refused because the pinned
    /// recovery key did not vouch for them.
    public struct Outcome: Sendable, Equatable {
        public var changed: Bool
        public var refused: [OwnerKeyWire]
    }

    /// The keys to seal snapshots, clips, live view and talk for, and whose commands count: the
    /// owner keys. Nil while no recovery key is pinned (media is held, unsent); empty when every
    /// key was revoked after keys existed, or when the files cannot be trusted, and then nothing
    /// can be sealed.
    public func recipients() -> [OwnerPublicKey]? { keys(in: [.owner]) }

    /// The keys a notification thumbnail is sealed for: the owner keys and the browsers'
    /// notification keys (docs/notifications.md). Nil and empty as for `recipients()`.
    public func thumbnailRecipients() -> [OwnerPublicKey]? { keys(in: [.owner, .notification]) }

    func keys(in roles: Set<OwnerKeyRole>) -> [OwnerPublicKey]? {
        guard let current = try? read() else { return [] }
        guard let recovery = current.recovery, let recoveryPoint = Data(base64Encoded: recovery) else {
            return current.sealingRequired ? [] : nil
        }
        return current.keys.filter { key in
            guard let role = Self.role(of: key), roles.contains(role) else { return false }
            return Self.vouched(key, by: recoveryPoint)
        }.compactMap { try? OwnerPublicKey(base64: $0.publicKey) }
    }

    /// A key's role as the wire names it; nil for a role this version does not know (trusted for nothing).
    static func role(of key: OwnerKeyWire) -> OwnerKeyRole? {
        key.role.map { OwnerKeyRole(rawValue: $0) } ?? .owner
    }

    public func load() -> [OwnerKeyWire] { (try? read())?.keys ?? [] }

    /// The pinned recovery key (its point, base64), if any.
    public func pinnedRecovery() -> String? { (try? pin())?.recovery }

    /// Why the doorbell holds its media unsent, if it does, for STATUS and the journal.
    public var holding: String? {
        guard (try? read()).map({ $0.recovery == nil && !$0.sealingRequired }) == true else { return nil }
        return "no recovery key pinned: media stays on the doorbell, unsent, until the owner pins one "
            + "(porchlightctl keys trust FINGERPRINT)"
    }

    /// What `trust` found wrong.
    public enum TrustError: Error, Sendable, Equatable, CustomStringConvertible {
        case noSuchKey(String)
        case otherPinned(String)
        case unreadable(String)

        public var description: String {
            switch self {
            case .noSuchKey(let fingerprint):
                "no key with fingerprint \(fingerprint) has arrived from the sync module; compare with the Keys page"
            case .otherPinned(let fingerprint):
                "another recovery key (\(fingerprint)) is pinned; `porchlightctl keys reset` on the doorbell first"
            case .unreadable(let why): why
            }
        }
    }

    /// Normalised for comparing: hex digits only, lower case.
    static func digits(_ fingerprint: String) -> String { fingerprint.lowercased().filter(\.isHexDigit) }

    /// Whether `fingerprint` (as the Keys page or `pair` shows it, any case, any separators) names
    /// `point` (base64): the whole key id, at least 16 hex digits of it, may be given.
    public static func matches(_ fingerprint: String, _ point: String) -> Bool {
        let given = digits(fingerprint)
        guard given.count >= 16, let key = try? OwnerPublicKey(base64: point) else { return false }
        return key.id.hasPrefix(given)
    }

    /// Pins a recovery key the owner has confirmed, given as its point (pairing brings it) or found
    /// by its fingerprint among the keys the sync module sent. The list is checked against it at
    /// once; until the owner's other keys arrive, media is sealed for the recovery key itself.
    /// Pinning the key already pinned does nothing; pinning another needs `reset` first.
    @discardableResult
    public func trust(point: String? = nil, fingerprint: String) throws(TrustError) -> String {
        let stored: Stored
        do {
            stored = try read()
        } catch {
            // A list that cannot be read: start from the pin alone, as `save` does.
            let pin: Pin?
            do { pin = try self.pin() } catch { throw .unreadable(error.description) }
            stored = Stored(keys: [], sealingRequired: pin?.sealingRequired ?? false, recovery: pin?.recovery)
        }
        let offered = ([point].compactMap { $0 }) + stored.keys.map(\.publicKey)
        guard let recovery = offered.first(where: { Self.matches(fingerprint, $0) }) else {
            throw .noSuchKey(fingerprint)
        }
        if let pinned = stored.recovery {
            guard pinned == recovery else { throw .otherPinned(Self.fingerprint(pinned)) }
            return recovery
        }
        guard let recoveryPoint = Data(base64Encoded: recovery), let key = try? OwnerPublicKey(base64: recovery) else {
            throw .noSuchKey(fingerprint)
        }
        var kept = stored.keys.filter { Self.vouched($0, by: recoveryPoint) }
        if !kept.contains(where: { $0.publicKey == recovery }) {
            kept.append(OwnerKeyWire(id: key.id, label: "recovery", publicKey: recovery))
        }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try StateFile.replace(pinPath, with: try encoder.encode(Pin(sealingRequired: true, recovery: recovery)))
            try StateFile.replace(
                path, with: try encoder.encode(Stored(keys: kept, sealingRequired: true, recovery: recovery)))
        } catch {
            throw .unreadable("cannot write the pin: \(error)")
        }
        return recovery
    }

    /// Forgets the pin and the list (the owner starts over on the doorbell): media is held again
    /// until a recovery key is pinned.
    public func reset() throws {
        for file in [pinPath, path] where FileManager.default.fileExists(atPath: file) {
            try FileManager.default.removeItem(atPath: file)
        }
    }

    /// Replaces the list atomically (write, fsync, rename). With a pinned recovery key only the
    /// recovery key and the keys it signed are kept (docs/privacy.md, "Key trust"); without one
    /// the list is kept as it came, for `trust` to find the recovery key in, and sealed for by no
    /// one. Once the owner has had a key, media is sealed or not kept, for good.
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
        let recovery = pin?.recovery
        var kept = keys
        var refused: [OwnerKeyWire] = []
        if let recovery, let recoveryPoint = Data(base64Encoded: recovery) {
            (kept, refused) = (
                keys.filter { Self.vouched($0, by: recoveryPoint) },
                keys.filter { !Self.vouched($0, by: recoveryPoint) }
            )
        }
        let new = Stored(
            keys: kept, sealingRequired: old.sealingRequired || (recovery != nil && !kept.isEmpty), recovery: recovery)
        let outcome = Outcome(changed: new != old, refused: refused)
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
        return Outcome(changed: true, refused: refused)
    }

    static func vouched(_ key: OwnerKeyWire, by recoveryPoint: Data) -> Bool {
        guard let point = Data(base64Encoded: key.publicKey) else { return false }
        if point == recoveryPoint { return true }
        guard let signature = key.signature.flatMap({ Data(base64Encoded: $0) }), let role = role(of: key) else {
            return false
        }
        return KeyEndorsement.isValid(signature, for: point, by: recoveryPoint, role: role)
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

/// Notices the pinned recovery key changing between calls: `porchlightctl keys trust` and
/// `keys reset` run beside the daemon, which makes each change an access-log entry of its own.
public final class PinWatch: Sendable {
    let keys: OwnerKeysFile
    private let last: Mutex<String?>

    public init(_ keys: OwnerKeysFile) {
        self.keys = keys
        last = Mutex(keys.pinnedRecovery())
    }

    /// The change since the last call, if there was one: the new pin, or nil when it was reset.
    public func change() -> String?? {
        let now = keys.pinnedRecovery()
        return last.withLock { last in
            guard now != last else { return .none }
            last = now
            return .some(now)
        }
    }
}

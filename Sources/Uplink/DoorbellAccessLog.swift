import DoorbellCore
import Foundation
import Logging
import Synchronization
import SyncProtocol

/// The doorbell's access log (docs/privacy.md, "Access log"), in its state directory:
/// - `access-log.jsonl`: its own entries, one signed `AccessRecord` per line, signed with the
///   device key; appended and fsynced one by one, rewritten only to rotate (``AccessRotation``);
/// - `access-log-sync.jsonl`: its mirror of the sync module's log, as received, rotated alike;
/// - `access-log-sync.key`: the sync module's access-log key, pinned the first time it is seen.
/// Both logs travel over the control channel; `porchlightctl audit verify` reads these files.
public final class DoorbellAccessLog: AccessRecording, Sendable {
    public let ownPath: String
    public let mirrorPath: String
    public let pinnedKeyPath: String
    let signer: AccessSigner
    let logger: Logger
    let rotation: AccessRotation
    /// The newest entry of each file and how many entries it holds.
    private let state: Mutex<(own: AccessRecord?, mirror: AccessRecord?, ownCount: Int, mirrorCount: Int)>

    public init(
        stateDirectory: String, identity: DeviceIdentity, logger: Logger, rotation: AccessRotation = .standard
    ) throws {
        ownPath = stateDirectory + "/access-log.jsonl"
        mirrorPath = stateDirectory + "/access-log-sync.jsonl"
        pinnedKeyPath = stateDirectory + "/access-log-sync.key"
        signer = try AccessSigner(log: identity.deviceID, privateKeyBytes: identity.privateKeyBytes)
        self.logger = logger
        self.rotation = rotation
        let own = Self.read(ownPath, log: identity.deviceID)
        let mirror = Self.read(mirrorPath, log: "sync")
        state = Mutex((own.last, mirror.last, own.count, mirror.count))
    }

    public var deviceID: String { signer.log }
    public var publicKey: Data { signer.publicKey }
    public var lastSequence: Int64 { state.withLock { $0.own?.sequence ?? 0 } }
    public var mirroredSequence: Int64 { state.withLock { $0.mirror?.sequence ?? 0 } }

    /// Signs and appends an entry, and logs it to the journal with its sequence number. A write
    /// that fails is logged as an error with the entry, so the journal still has it.
    public func record(_ message: Logger.Message, _ note: AccessNote) {
        let outcome = state.withLock { state -> Result<AccessRecord, any Error> in
            do {
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                var entries: [AccessRecord] = []
                if rotation.checkpointDue(after: state.own), let last = state.own {
                    entries.append(try signer.checkpoint(after: last, at: now))
                }
                let record = try signer.entry(
                    after: entries.last ?? state.own, at: now, actor: note.actor, action: note.action,
                    device: signer.log, detail: note.detail, source: note.source)
                entries.append(record)
                try Self.append(entries, to: ownPath)
                state.own = record
                state.ownCount += entries.count
                // Tried at each checkpoint, not each entry: rotating reads the whole file.
                let forced = state.ownCount > rotation.writerLimit
                if state.ownCount > rotation.maximumKept, entries.count > 1 || forced {
                    state.ownCount = rotate(ownPath, log: signer.log, ignoringAge: forced) ?? state.ownCount
                }
                return .success(record)
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case .success(let record):
            logger.access(message, note, metadata: [LogKey.accessSequence: "\(record.sequence)"])
        case .failure(let error):
            logger.access(message, note)
            logger.error(
                "Cannot write the access log; the entry is only in the journal.",
                metadata: [LogKey.file: "\(ownPath)", LogKey.error: "\(error)"])
        }
    }

    /// The doorbell's own entries after `sequence`, at most `limit`, to mirror to the sync module.
    public func records(after sequence: Int64, limit: Int) -> [AccessRecord] {
        Array(Self.read(ownPath, log: signer.log).filter { $0.sequence > sequence }.prefix(limit))
    }

    /// Pins the sync module's access-log key the first time; afterwards a different key is refused.
    public func pin(syncKey: Data) -> Bool {
        if let pinned = pinnedSyncKey() { return pinned == syncKey }
        do {
            try StateFile.replace(pinnedKeyPath, with: Data(syncKey.base64EncodedString().utf8))
            logger.notice(
                "Pinned the sync module's access-log key.",
                metadata: ["fingerprint": "\(AccessSigner.fingerprint(of: syncKey))"])
            return true
        } catch {
            logger.error("Cannot pin the sync module's access-log key.", metadata: [LogKey.error: "\(error)"])
            return false
        }
    }

    public func pinnedSyncKey() -> Data? {
        FileManager.default.contents(atPath: pinnedKeyPath).flatMap {
            Data(base64Encoded: String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// Keeps the sync module's entries that follow on from the mirror and are signed by the pinned
    /// key. An entry that does not is refused and logged: the sync module's log changed after the
    /// doorbell received it, or someone else wrote it. The mirror keeps what it had, as evidence.
    public func receiveMirror(_ records: [AccessRecord]) {
        guard let key = pinnedSyncKey() else {
            logger.warning("Ignoring sync access-log entries: no sync key is pinned yet.")
            return
        }
        state.withLock { state in
            var accepted: [AccessRecord] = []
            var last = state.mirror
            if state.mirrorCount >= rotation.hardLimit {
                state.mirrorCount = rotate(mirrorPath, log: "sync") ?? state.mirrorCount
            }
            for record in records where record.sequence > last?.sequence ?? 0 {
                guard state.mirrorCount + accepted.count < rotation.hardLimit else {
                    logger.error(
                        "The sync module's access log has no checkpoint to rotate the mirror at; keeping the copy.",
                        metadata: [LogKey.sequence: "\(record.sequence)"])
                    break
                }
                // An empty mirror may begin at a checkpoint: the sync module rotated its log.
                let follows =
                    record.sequence == (last?.sequence ?? 0) + 1 && record.previousHash == last?.hash ?? ""
                guard record.log == "sync", record.isAuthentic(publicKey: key),
                    follows || (last == nil && record.isCheckpoint)
                else {
                    logger.error(
                        "The sync module sent an access-log entry that does not follow the copy here; keeping the copy.",
                        metadata: [LogKey.sequence: "\(record.sequence)"])
                    break
                }
                accepted.append(record)
                last = record
            }
            guard !accepted.isEmpty else { return }
            do {
                try Self.append(accepted, to: mirrorPath)
                state.mirror = last
                state.mirrorCount += accepted.count
                if state.mirrorCount > rotation.maximumKept, accepted.contains(where: \.isCheckpoint) {
                    state.mirrorCount = rotate(mirrorPath, log: "sync") ?? state.mirrorCount
                }
            } catch {
                logger.error(
                    "Cannot write the mirror of the sync module's access log.",
                    metadata: [LogKey.file: "\(mirrorPath)", LogKey.error: "\(error)"])
            }
        }
    }

    /// Drops the oldest entries of a log file up to a checkpoint (``AccessRotation``), replacing the
    /// file at once; returns how many it holds now, or nil when it was left as it was.
    func rotate(_ path: String, log: String, ignoringAge: Bool = false) -> Int? {
        let records = Self.read(path, log: log)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let start = rotation.keptFrom(count: records.count) {
            rotation.mayBegin(at: records[$0], now: now, ignoringAge: ignoringAge)
        }
        guard start > 0 else { return nil }
        do {
            try StateFile.replace(path, with: try Self.lines(records[start...]))
            let metadata: Logger.Metadata = [LogKey.file: "\(path)", LogKey.sequence: "\(records[start].sequence)"]
            if ignoringAge {
                logger.warning(
                    "The access log passed its limit: rotated out entries younger than the minimum age.",
                    metadata: metadata)
            } else {
                logger.notice("Rotated an access log at a checkpoint.", metadata: metadata)
            }
            return records.count - start
        } catch {
            logger.error("Cannot rotate an access log.", metadata: [LogKey.file: "\(path)", LogKey.error: "\(error)"])
            return nil
        }
    }

    /// Every entry of a log file in file order; a line that does not parse is kept as an entry that
    /// cannot be authentic, so that `audit verify` reports it.
    public static func read(_ path: String, log: String) -> [AccessRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        return data.split(separator: UInt8(ascii: "\n")).map { line in
            (try? decoder.decode(AccessRecord.self, from: Data(line)))
                ?? .unreadable(log: log, text: String(decoding: line, as: UTF8.self))
        }
    }

    static func append(_ records: [AccessRecord], to path: String) throws {
        try StateFile.append(try lines(records), to: path)
    }

    static func lines(_ records: some Sequence<AccessRecord>) throws -> Data {
        var data = Data()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for record in records {
            data.append(try encoder.encode(record))
            data.append(UInt8(ascii: "\n"))
        }
        return data
    }
}

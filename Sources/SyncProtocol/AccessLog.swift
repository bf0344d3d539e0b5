import Crypto
import Foundation
import Synchronization

/// One entry of a signed access log (docs/privacy.md, "Access log"): who saw or did what, when and
/// from where. Each log has one writer, which signs its entries: the doorbell with its device key,
/// the sync module with its access-log key. An entry's hash covers every field and the hash of the
/// entry before it, so editing, removing, reordering or inserting an entry is visible, and the
/// signature means only the writer can make a valid one.
public struct AccessRecord: Codable, Sendable, Equatable {
    /// Whose log: `sync`, or the doorbell's device id.
    public var log: String
    /// 1, 2, 3, … within the log.
    public var sequence: Int64
    /// Unix milliseconds.
    public var at: Int64
    /// Who: `owner:<name>`, `key:<owner key id>`, `device:<id>`, `console`, `retention`.
    public var actor: String
    public var action: String
    public var device: String
    public var detail: String
    /// From where: the web client, `control channel`, `local`.
    public var source: String
    public var previousHash: String
    public var hash: String
    /// Ed25519 over the UTF-8 of `hash`, base64.
    public var signature: String

    public init(
        log: String, sequence: Int64, at: Int64, actor: String, action: String, device: String, detail: String,
        source: String, previousHash: String, hash: String = "", signature: String = ""
    ) {
        self.log = log
        self.sequence = sequence
        self.at = at
        self.actor = actor
        self.action = action
        self.device = device
        self.detail = detail
        self.source = source
        self.previousHash = previousHash
        self.hash = hash
        self.signature = signature
    }

    /// Stands in for a stored entry that no longer parses, so that it is reported (it can never be
    /// authentic) rather than skipped.
    public static func unreadable(log: String, text: String) -> AccessRecord {
        AccessRecord(
            log: log, sequence: -1, at: 0, actor: "", action: "unreadable", device: "", detail: text, source: "",
            previousHash: "")
    }

    /// SHA-256 (hex) over a version line and every field but the hash and signature, one per line;
    /// backslashes and newlines inside fields are escaped so a field cannot forge a line.
    public var computedHash: String {
        let fields = [
            "PORCHLIGHT-ACCESS-V1", log, "\(sequence)", "\(at)", actor, action, device, detail, source, previousHash,
        ]
        .map { field in
            // Most fields need no escaping; Foundation's replacing is the slow part of verifying a log.
            guard field.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\n") }) else {
                return field
            }
            return field.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
        }
        return sha256Hex(Data(fields.joined(separator: "\n").utf8))
    }

    /// The hash is right and the signature is the writer's. With `verified`, a signature already
    /// found valid for this key and hash is not checked again; the hash always is.
    public func isAuthentic(publicKey: Data, verified: VerifiedSignatures? = nil) -> Bool {
        guard hash == computedHash else { return false }
        let token = verified.map { _ in VerifiedSignatures.token(publicKey, hash, signature) }
        if let verified, let token, verified.contains(token) { return true }
        guard let signatureBytes = Data(base64Encoded: signature),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey),
            key.isValidSignature(signatureBytes, for: Data(hash.utf8))
        else { return false }
        if let verified, let token { verified.insert(token) }
        return true
    }
}

/// Signatures already found valid, so that the access-log page, which shows whole logs on every
/// view, checks each Ed25519 signature once (~50 µs each) rather than on every view. An entry is
/// known by its key, hash and signature together: an edited entry has another hash (recomputed on
/// every check), and a changed signature or key is checked anew. Bounded: when full it starts over.
public final class VerifiedSignatures: Sendable {
    private let seen = Mutex(Set<Data>())
    private let limit: Int

    public init(limit: Int = 100_000) {
        self.limit = limit
    }

    public var count: Int { seen.withLock { $0.count } }

    static func token(_ publicKey: Data, _ hash: String, _ signature: String) -> Data {
        Data(SHA256.hash(data: publicKey + Data("\n\(hash)\n\(signature)".utf8)))
    }

    func contains(_ token: Data) -> Bool { seen.withLock { $0.contains(token) } }

    func insert(_ token: Data) {
        seen.withLock { seen in
            if seen.count >= limit { seen.removeAll(keepingCapacity: true) }
            seen.insert(token)
        }
    }
}

/// The writer's side of a log: makes the next signed entry.
public struct AccessSigner: Sendable {
    public let log: String
    let privateKeyBytes: Data

    /// `privateKeyBytes`: a raw 32-byte Ed25519 key (the doorbell's device key, or the sync
    /// module's access-log key).
    public init(log: String, privateKeyBytes: Data) throws {
        _ = try Curve25519.Signing.PrivateKey(rawRepresentation: privateKeyBytes)
        self.log = log
        self.privateKeyBytes = privateKeyBytes
    }

    public var publicKey: Data {
        // Validated in init.
        try! Curve25519.Signing.PrivateKey(rawRepresentation: privateKeyBytes).publicKey.rawRepresentation
    }

    /// The entry after `last` (nil: the first entry of the log).
    public func entry(
        after last: AccessRecord?, at: Int64, actor: String, action: String, device: String, detail: String,
        source: String
    ) throws -> AccessRecord {
        var record = AccessRecord(
            log: log, sequence: (last?.sequence ?? 0) + 1, at: at, actor: actor, action: action, device: device,
            detail: detail, source: source, previousHash: last?.hash ?? "")
        record.hash = record.computedHash
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: privateKeyBytes)
        record.signature = try key.signature(for: Data(record.hash.utf8)).base64EncodedString()
        return record
    }

    /// The checkpoint after `last` (see ``AccessRotation``): an entry like any other, signed and
    /// chained, from which a copy may begin once the entries before it are rotated out.
    public func checkpoint(after last: AccessRecord, at: Int64) throws -> AccessRecord {
        try entry(
            after: last, at: at, actor: "retention", action: AccessRotation.checkpointAction, device: "",
            detail: "entries 1–\(last.sequence) come before this one; a rotated copy may begin here",
            source: "rotation")
    }

    /// A short fingerprint of a log's public key, to compare by eye (the first 8 bytes of its
    /// SHA-256, hex, in groups of four).
    public static func fingerprint(of publicKey: Data) -> String {
        let hex = hexString(SHA256.hash(data: publicKey).prefix(8))
        return stride(from: 0, to: hex.count, by: 4).map {
            let start = hex.index(hex.startIndex, offsetBy: $0)
            return String(hex[start..<hex.index(start, offsetBy: 4)])
        }.joined(separator: "-")
    }
}

/// How logs and their copies stay bounded (docs/privacy.md, "Rotation"). Every `segment` entries
/// the writer writes a checkpoint entry; a copy (the writer's own file or table, or a mirror)
/// that holds more than `maximumKept` entries drops the oldest, up to a checkpoint, so that every
/// copy begins at entry 1 or at a checkpoint and `AccessLogVerifier` still checks it whole: the
/// checkpoint is signed and chained to the entry before it, so a copy that begins there is the
/// log from there on, and an entry missing after it is still a deletion. Only entries older than
/// `minimumAge` rotate out, so a writer that floods its log cannot flush recent entries out of the
/// other side's copy: the copy fills to `hardLimit` and refuses the rest instead.
public struct AccessRotation: Sendable, Equatable {
    public static let checkpointAction = "checkpoint"
    /// Entries from one checkpoint to the next.
    public var segment: Int64
    /// Entries a copy keeps once it can drop some at a checkpoint. Rotation is tried as each
    /// checkpoint arrives, so a copy may hold up to a segment more between two of them.
    public var maximumKept: Int
    /// Milliseconds a checkpoint must be old before the entries ahead of it may go.
    public var minimumAge: Int64

    public init(segment: Int64, maximumKept: Int, minimumAge: Int64 = 0) {
        self.segment = max(segment, 1)
        self.maximumKept = max(maximumKept, Int(self.segment))
        self.minimumAge = max(minimumAge, 0)
    }

    /// About 2.5 MB a copy: months of an ordinary owner's views, talks and changes, and never
    /// less than the last 30 days.
    public static let standard = AccessRotation(segment: 1000, maximumKept: 5000, minimumAge: 30 * 86_400_000)

    /// Past this many entries a copy takes no more: a writer that writes no checkpoints (a
    /// hostile one, flooding) cannot make a copy grow without bound.
    public var hardLimit: Int { maximumKept + 2 * Int(segment) }

    /// Past this many entries a writer's own copy rotates at a checkpoint however young: its disk is
    /// bounded even under a flood of commands that each write an entry. Four times `hardLimit`, so
    /// that a flood big enough to flush the writer's recent entries is itself plain in the log.
    public var writerLimit: Int { 4 * hardLimit }

    /// Whether the writer's entry after `last` is a checkpoint.
    public func checkpointDue(after last: AccessRecord?) -> Bool {
        guard let last, !last.isCheckpoint else { return false }
        return last.sequence % segment == 0
    }

    /// Whether a copy may begin at `record` once the entries before it go: a checkpoint at least
    /// `minimumAge` old at `now` (Unix milliseconds).
    public func mayBegin(at record: AccessRecord, now: Int64, ignoringAge: Bool = false) -> Bool {
        record.isCheckpoint && (ignoringAge || record.at <= now.subtractingReportingOverflow(minimumAge).partialValue)
    }

    /// Where a copy of `count` entries begins after rotation: the index of the earliest entry that
    /// leaves at most `maximumKept` and `mayBegin(i)`, or 0 when nothing has to go or none may.
    public func keptFrom(count: Int, mayBegin: (Int) -> Bool) -> Int {
        guard count > maximumKept else { return 0 }
        return (count - maximumKept..<count).first(where: mayBegin) ?? 0
    }
}

extension AccessRecord {
    /// A rotation checkpoint (``AccessRotation``).
    public var isCheckpoint: Bool { action == AccessRotation.checkpointAction }
}

/// Something `AccessLogVerifier` found wrong, naming the entry.
public enum AccessFinding: Sendable, Equatable, CustomStringConvertible {
    /// An entry whose place is right but whose content or signature is not.
    case edited(Int64)
    /// Entries missing from their place.
    case deleted(ClosedRange<Int64>)
    /// An authentic entry found after a later one.
    case reordered(Int64, after: Int64)
    /// An entry that is not the writer's, where no entry is missing (after entry N; 0: at the start).
    case inserted(after: Int64)
    /// An authentic entry that does not follow the one before it (the writer forked its log).
    case unlinked(Int64)
    /// Cross-check: entries in the reference copy that the other copy lacks.
    case missing(ClosedRange<Int64>, from: String)
    /// Cross-check: the two copies disagree about an entry.
    case differs(Int64, from: String)

    public var description: String {
        switch self {
        case .edited(let sequence): "entry \(sequence) was edited (its hash or signature is wrong)"
        case .deleted(let range) where range.count == 1: "entry \(range.lowerBound) was deleted"
        case .deleted(let range): "entries \(range.lowerBound)–\(range.upperBound) were deleted"
        case .reordered(let sequence, let after): "entry \(sequence) was moved after entry \(after) (reordered)"
        case .inserted(let after) where after == 0: "an entry was inserted at the start"
        case .inserted(let after): "an entry was inserted after entry \(after)"
        case .unlinked(let sequence): "entry \(sequence) does not follow the entry before it"
        case .missing(let range, let copy) where range.count == 1: "entry \(range.lowerBound) is missing from \(copy)"
        case .missing(let range, let copy): "entries \(range.lowerBound)–\(range.upperBound) are missing from \(copy)"
        case .differs(let sequence, let copy): "entry \(sequence) differs in \(copy)"
        }
    }
}

/// Checks a log and compares two copies of one. Pure functions over entries, so the doorbell, the
/// sync module's page and `porchlightctl audit verify` agree.
public enum AccessLogVerifier {
    /// Checks one copy of `log`, in its stored order, against the writer's public key. Names each
    /// edited, deleted, reordered or inserted entry. A copy that begins with a checkpoint was
    /// rotated: the entries before it are not deletions. Entries cut off the end cannot be seen
    /// here; `compare` with the other side's copy finds those.
    /// `verified` remembers signatures found valid across calls (the page's views).
    public static func verify(
        _ records: [AccessRecord], log: String, publicKey: Data, verified: VerifiedSignatures? = nil
    ) -> [AccessFinding] {
        var findings: [AccessFinding] = []
        var authenticSequences = Set<Int64>()
        /// Authentic entries in order, and the forgeries seen since the last one.
        var last: AccessRecord?
        var forgeries: [AccessRecord] = []
        var claimed = Set<Int64>()
        var start: Int64 = 1
        func settle(before next: AccessRecord?) {
            let low = (last?.sequence ?? 0) + 1
            let high = next.map { $0.sequence - 1 } ?? Int64.max
            for forged in forgeries {
                if forged.sequence >= low, forged.sequence <= high, !claimed.contains(forged.sequence) {
                    claimed.insert(forged.sequence)
                    findings.append(.edited(forged.sequence))
                } else {
                    findings.append(.inserted(after: last?.sequence ?? 0))
                }
            }
            forgeries.removeAll()
        }
        for record in records {
            guard record.log == log, record.isAuthentic(publicKey: publicKey, verified: verified) else {
                forgeries.append(record)
                continue
            }
            if let previous = last, record.sequence <= previous.sequence {
                findings.append(.reordered(record.sequence, after: previous.sequence))
                authenticSequences.insert(record.sequence)
                continue
            }
            if last == nil, record.isCheckpoint { start = record.sequence }
            settle(before: record)
            if let previous = last, record.sequence == previous.sequence + 1, record.previousHash != previous.hash {
                findings.append(.unlinked(record.sequence))
            }
            authenticSequences.insert(record.sequence)
            last = record
        }
        settle(before: nil)
        // Holes no edited entry fills, in runs.
        var run: ClosedRange<Int64>?
        var holes: [ClosedRange<Int64>] = []
        for sequence in stride(from: start, through: last?.sequence ?? 0, by: 1)
        where !authenticSequences.contains(sequence) && !claimed.contains(sequence) {
            if let current = run, current.upperBound == sequence - 1 {
                run = current.lowerBound...sequence
            } else {
                if let current = run { holes.append(current) }
                run = sequence...sequence
            }
        }
        if let current = run { holes.append(current) }
        return findings + holes.map { .deleted($0) }
    }

    /// Compares `other` with `reference`, a copy of the same log kept elsewhere: every entry of the
    /// reference must be in it, byte for byte. `otherName` says which copy it is in the findings.
    /// When `otherMayLag` (the other copy is the one mirrored to), entries newer than its newest
    /// are not findings, since they may not have arrived yet; `unmirrored` counts them. When the
    /// other copy begins with a checkpoint (it was rotated), entries before it are not findings.
    public static func compare(
        reference: [AccessRecord], other: [AccessRecord], otherName: String, otherMayLag: Bool = true
    ) -> (findings: [AccessFinding], unmirrored: Int) {
        var byOther: [Int64: AccessRecord] = [:]
        for record in other where byOther[record.sequence] == nil { byOther[record.sequence] = record }
        let newest = otherMayLag ? byOther.keys.max() ?? 0 : Int64.max
        let start = other.first.map { $0.isCheckpoint ? $0.sequence : 1 } ?? 1
        var findings: [AccessFinding] = []
        var run: ClosedRange<Int64>?
        func flush() {
            if let current = run { findings.append(.missing(current, from: otherName)) }
            run = nil
        }
        var unmirrored = 0
        for record in reference where record.sequence >= start {
            guard record.sequence <= newest else {
                unmirrored += 1
                continue
            }
            guard let theirs = byOther[record.sequence] else {
                if let current = run, current.upperBound == record.sequence - 1 {
                    run = current.lowerBound...record.sequence
                } else {
                    flush()
                    run = record.sequence...record.sequence
                }
                continue
            }
            flush()
            if theirs != record { findings.append(.differs(record.sequence, from: otherName)) }
        }
        flush()
        return (findings, unmirrored)
    }
}

/// What the sync module hands a doorbell (or the owner's page) for `audit verify`: its own log with
/// the key that signs it, and its copies of doorbells' logs.
public struct AccessLogExport: Codable, Sendable, Equatable {
    /// The sync module's access-log public key, base64.
    public var syncKey: String
    public var sync: [AccessRecord]
    /// Device id → the sync module's copy of that doorbell's log.
    public var devices: [String: [AccessRecord]]

    public init(syncKey: String, sync: [AccessRecord], devices: [String: [AccessRecord]]) {
        self.syncKey = syncKey
        self.sync = sync
        self.devices = devices
    }
}

/// `GET`, signed by a doorbell: the sync module's log and its copy of that doorbell's, as an
/// `AccessLogExport` (docs/protocol.md, "Access log").
public let accessLogPath = "/v1/access-log"

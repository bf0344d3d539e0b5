import Crypto
import Foundation
import SyncProtocol
import Testing

@Suite("Signed access log", .timeLimit(.minutes(10)))
struct AccessLogTests {
    let key = Curve25519.Signing.PrivateKey().rawRepresentation
    var signer: AccessSigner { try! AccessSigner(log: "sync", privateKeyBytes: key) }

    /// A log of `count` entries, as its writer makes it.
    func log(_ count: Int) throws -> [AccessRecord] {
        var records: [AccessRecord] = []
        for index in 1...count {
            records.append(
                try signer.entry(
                    after: records.last, at: 1_764_000_000_000 + Int64(index), actor: "owner:ann",
                    action: "clip-view", device: "d1", detail: "clip \(index)", source: "web"))
        }
        return records
    }

    func verify(_ records: [AccessRecord]) -> [AccessFinding] {
        AccessLogVerifier.verify(records, log: "sync", publicKey: signer.publicKey)
    }

    @Test("an untouched log verifies")
    func intact() throws {
        #expect(verify(try log(6)).isEmpty)
        #expect(verify([]).isEmpty)
    }

    @Test("an edited entry is named, whether or not its hash was recomputed")
    func edited() throws {
        var records = try log(6)
        records[2].detail = "nothing to see"
        #expect(verify(records) == [.edited(3)])
        records[2].hash = records[2].computedHash
        #expect(verify(records) == [.edited(3)])
        var last = try log(6)
        last[5].actor = "owner:bob"
        #expect(verify(last) == [.edited(6)])
    }

    @Test("with remembered signatures: each checked once, and tampering after that is still found")
    func rememberedSignatures() throws {
        let verified = VerifiedSignatures()
        let records = try log(6)
        let cached: ([AccessRecord]) -> [AccessFinding] = {
            AccessLogVerifier.verify($0, log: "sync", publicKey: self.signer.publicKey, verified: verified)
        }
        #expect(cached(records).isEmpty)
        #expect(verified.count == 6)
        #expect(cached(records).isEmpty)
        #expect(verified.count == 6)
        // Edited after its signature was remembered: content alone, then with the hash recomputed.
        var edited = records
        edited[2].detail = "nothing to see"
        #expect(cached(edited) == [.edited(3)])
        edited[2].hash = edited[2].computedHash
        #expect(cached(edited) == [.edited(3)])
        // A remembered signature does not vouch for the same entry under another key.
        let stranger = Curve25519.Signing.PrivateKey().publicKey.rawRepresentation
        let underStranger = AccessLogVerifier.verify(records, log: "sync", publicKey: stranger, verified: verified)
        #expect(!underStranger.isEmpty)
        #expect(underStranger == AccessLogVerifier.verify(records, log: "sync", publicKey: stranger))
        // Entries signed by another writer, then copied in: their signatures are checked, and fail.
        let forger = try AccessSigner(log: "sync", privateKeyBytes: Curve25519.Signing.PrivateKey().rawRepresentation)
        var forged = records
        forged[4] = try forger.entry(
            after: records[3], at: records[4].at, actor: "owner:mallory", action: "clip-view", device: "d1",
            detail: "clip 5", source: "web")
        #expect(cached(forged) == [.edited(5)])
    }

    @Test("remembered signatures are bounded: when full, the memory starts over")
    func rememberedSignaturesBounded() throws {
        let verified = VerifiedSignatures(limit: 4)
        #expect(
            AccessLogVerifier.verify(try log(6), log: "sync", publicKey: signer.publicKey, verified: verified).isEmpty)
        #expect(verified.count <= 4)
    }

    @Test("sha256Hex is SHA-256 in lowercase hex (the FIPS 180-2 \"abc\" vector)")
    func sha256HexVector() {
        #expect(sha256Hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("a newline or backslash inside a field cannot pass for a field boundary")
    func fieldsCannotForgeLines() {
        func record(detail: String, source: String) -> AccessRecord {
            AccessRecord(
                log: "sync", sequence: 1, at: 1, actor: "owner:ann", action: "clip-view", device: "d1",
                detail: detail, source: source, previousHash: "")
        }
        let honest = record(detail: "x", source: "web").computedHash
        #expect(record(detail: "x\nweb", source: "").computedHash != honest)
        #expect(record(detail: "x\\nweb", source: "").computedHash != record(detail: "x\nweb", source: "").computedHash)
        #expect(honest.count == 64 && honest.allSatisfy { "0123456789abcdef".contains($0) })
    }

    @Test("a deleted entry or run of entries is named")
    func deleted() throws {
        var records = try log(8)
        records.remove(at: 3)
        #expect(verify(records) == [.deleted(4...4)])
        records.removeSubrange(4...5)
        #expect(verify(records) == [.deleted(4...4), .deleted(6...7)])
        #expect(verify(Array(try log(5).dropFirst())) == [.deleted(1...1)])
    }

    @Test("a reordered entry is named")
    func reordered() throws {
        var records = try log(6)
        records.swapAt(2, 3)
        #expect(verify(records) == [.reordered(3, after: 4)])
    }

    @Test("an inserted entry is named by where it was put, even with a copied sequence number")
    func inserted() throws {
        var records = try log(6)
        var forged = records[2]
        forged.detail = "an entry the writer never made"
        forged.sequence = 4
        forged.hash = forged.computedHash
        records.insert(forged, at: 3)
        #expect(verify(records) == [.inserted(after: 3)])
        // One signed by another key, at the start.
        let other = try AccessSigner(log: "sync", privateKeyBytes: Curve25519.Signing.PrivateKey().rawRepresentation)
        var fresh = try log(3)
        fresh.insert(
            try other.entry(
                after: nil, at: 0, actor: "x", action: "live-view", device: "", detail: "", source: "web"), at: 0)
        #expect(verify(fresh) == [.inserted(after: 0)])
    }

    @Test("another log's entries do not pass as this one's")
    func otherLog() throws {
        let doorbell = try AccessSigner(log: "d1", privateKeyBytes: key)
        let entry = try doorbell.entry(
            after: nil, at: 0, actor: "x", action: "live-view", device: "", detail: "", source: "web")
        #expect(verify([entry]) == [.edited(1)])
    }

    @Test("comparing copies finds hidden and changed entries, and tolerates a copy that is behind")
    func compare() throws {
        let reference = try log(8)
        var other = reference
        other.remove(at: 4)
        other[1].detail = "changed"
        let result = AccessLogVerifier.compare(reference: reference, other: other, otherName: "the copy")
        #expect(result.findings == [.differs(2, from: "the copy"), .missing(5...5, from: "the copy")])
        let behind = AccessLogVerifier.compare(
            reference: reference, other: Array(reference.prefix(5)), otherName: "the copy")
        #expect(behind.findings.isEmpty)
        #expect(behind.unmirrored == 3)
        // A copy that cannot be behind (it sent the reference) lacks what it does not have.
        let cut = AccessLogVerifier.compare(
            reference: reference, other: Array(reference.prefix(5)), otherName: "the copy", otherMayLag: false)
        #expect(cut.findings == [.missing(6...8, from: "the copy")])
        #expect(
            AccessFinding.missing(5...7, from: "the sync module's copy").description
                == "entries 5–7 are missing from the sync module's copy")
    }

    /// A log of `count` entries as a writer with `rotation` makes it: a checkpoint every segment.
    func rotatedLog(_ count: Int, _ rotation: AccessRotation) throws -> [AccessRecord] {
        var records: [AccessRecord] = []
        for index in 1...count {
            if rotation.checkpointDue(after: records.last), let last = records.last {
                records.append(try signer.checkpoint(after: last, at: last.at))
            }
            records.append(
                try signer.entry(
                    after: records.last, at: 1_764_000_000_000 + Int64(index), actor: "owner:ann",
                    action: "clip-view", device: "d1", detail: "clip \(index)", source: "web"))
        }
        return records
    }

    @Test("a writer checkpoints every segment; a copy rotated at a checkpoint verifies whole, and compares clean")
    func rotation() throws {
        let rotation = AccessRotation(segment: 5, maximumKept: 12)
        let full = try rotatedLog(30, rotation)
        #expect(full.filter(\.isCheckpoint).map(\.sequence) == [6, 11, 16, 21, 26, 31, 36])
        #expect(verify(full).isEmpty)
        let now = full.last!.at
        let start = rotation.keptFrom(count: full.count) { rotation.mayBegin(at: full[$0], now: now) }
        let kept = Array(full[start...])
        #expect(kept.count <= 12 && kept.first?.isCheckpoint == true)
        #expect(verify(kept).isEmpty)
        #expect(AccessLogVerifier.compare(reference: full, other: kept, otherName: "copy").findings.isEmpty)
        #expect(AccessLogVerifier.compare(reference: kept, other: full, otherName: "copy").findings.isEmpty)
        // After the checkpoint a deletion is still one.
        var holed = kept
        holed.remove(at: 3)
        #expect(verify(holed) == [.deleted(kept[3].sequence...kept[3].sequence)])
        // A copy cut anywhere but at a checkpoint has lost entries.
        let cut = Array(full[(start + 1)...])
        #expect(verify(cut) == [.deleted(1...(cut[0].sequence - 1))])
        #expect(
            AccessLogVerifier.compare(reference: full, other: cut, otherName: "copy").findings == [
                .missing(1...(cut[0].sequence - 1), from: "copy")
            ])
        // Nothing to drop below the bound, and no checkpoint to drop at: the copy stays whole.
        #expect(rotation.keptFrom(count: 12) { _ in true } == 0)
        #expect(rotation.keptFrom(count: 40) { _ in false } == 0)
        // Checkpoints younger than the minimum age keep everything before them.
        let aged = AccessRotation(segment: 5, maximumKept: 12, minimumAge: 60_000)
        #expect(aged.keptFrom(count: full.count) { aged.mayBegin(at: full[$0], now: now) } == 0)
        #expect(aged.keptFrom(count: full.count) { aged.mayBegin(at: full[$0], now: now + 60_000) } == start)
    }
}

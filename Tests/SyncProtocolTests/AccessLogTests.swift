import Crypto
import Foundation
import SyncProtocol
import Testing

@Suite("Signed access log")
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
}

import DoorbellTestKit
import Foundation
import GRDB
import Privacy
import SyncStorage
import SyncProtocol
import Testing

func wire(_ index: Int, key: String? = nil) -> WireEvent {
    WireEvent(
        key: key ?? "key-\(index)", eventID: "event-\(index)", kind: .ring,
        wallMilliseconds: 1_764_000_000_000 + Int64(index),
        pressCount: 1, chimeSilenced: false)
}

@Suite("Sync module storage (SQLite)", .timeLimit(.minutes(10)))
struct SyncStoreTests {
    let now: Int64 = 1_764_000_000_000

    func store(_ directory: TemporaryDirectory) throws -> SQLiteSyncStore {
        try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
    }

    @Test("a valid code pairs a device once; wrong, expired and used codes are refused")
    func pairing() throws {
        let directory = try TemporaryDirectory()
        let store = try store(directory)
        let identity = try DeviceIdentity()
        try store.addPairingCode("7KQ4-MX2P", expiresAt: now + 600_000)
        try store.addPairingCode("OLD1-CODE", expiresAt: now - 1)
        #expect(throws: PairingFailure.unknownCode) {
            _ = try store.pair(code: "7KQ4-MX2Q", publicKey: identity.publicKey, name: "Front", now: now)
        }
        #expect(throws: PairingFailure.expiredCode) {
            _ = try store.pair(code: "OLD1-CODE", publicKey: identity.publicKey, name: "Front", now: now)
        }
        let device = try store.pair(code: "7kq4mx2p", publicKey: identity.publicKey, name: "Front", now: now)
        #expect(device.id == identity.deviceID)
        #expect(throws: PairingFailure.usedCode) {
            _ = try store.pair(code: "7KQ4-MX2P", publicKey: try DeviceIdentity().publicKey, name: "Back", now: now)
        }
        #expect(try store.devices().map(\.id) == [identity.deviceID])
    }

    @Test("a repeated event or batch changes nothing, and events keep their order")
    func idempotentIngest() throws {
        let directory = try TemporaryDirectory()
        let store = try store(directory)
        let identity = try DeviceIdentity()
        try store.addPairingCode("AAAA-BBBB", expiresAt: now + 1000)
        let device = try store.pair(code: "AAAA-BBBB", publicKey: identity.publicKey, name: "Front", now: now)
        let batch = (0..<10).map { wire($0) }
        let first = try store.ingest(batch, from: device.id, now: now)
        #expect(first.accepted == batch.map(\.key))
        #expect(first.stored.map(\.event) == batch)
        let second = try store.ingest(Array(batch[5...]) + [wire(10)], from: device.id, now: now)
        #expect(second.accepted.count == 6)
        #expect(second.stored.map(\.event) == [wire(10)])
        let stored = try store.events(after: 0, limit: 100)
        #expect(stored.map(\.event) == batch + [wire(10)])
        #expect(stored.map(\.sequence) == stored.map(\.sequence).sorted())
        // A kind from a newer doorbell is stored as it came (docs/protocol.md, Events).
        var newer = wire(11)
        newer.kind = EventKind(rawValue: "doorbell-tamper")
        #expect(try store.ingest([newer], from: device.id, now: now).stored.map(\.event) == [newer])
        #expect(try store.events(after: 0, limit: 100).last?.event.kind == .other("doorbell-tamper"))
    }

    @Test("nonces survive a restart of the sync module, so a replay stays refused")
    func persistentNonces() throws {
        let directory = try TemporaryDirectory()
        #expect(try store(directory).insert("n1", deviceID: "d", at: now))
        let reopened = try store(directory)
        #expect(!reopened.insert("n1", deviceID: "d", at: now + 1000))
        #expect(reopened.insert("n1", deviceID: "other", at: now + 1000))
    }

    @Test("the verifier refuses a revoked device through the store")
    func revokedDevice() throws {
        let directory = try TemporaryDirectory()
        let store = try store(directory)
        let identity = try DeviceIdentity()
        try store.addPairingCode("CCCC-DDDD", expiresAt: now + 1000)
        let device = try store.pair(code: "CCCC-DDDD", publicKey: identity.publicKey, name: "Front", now: now)
        let verifier = RequestVerifier(nonces: store) { id in
            guard let record = try? store.device(id) else { return nil }
            return record.revokedAt == nil ? .active(publicKey: record.publicKey) : .revoked
        }
        let body = Data("{}".utf8)
        let first = try identity.sign(method: "POST", path: "/v1/events", body: body, now: now)
        #expect(
            try verifier.verify(method: "POST", path: "/v1/events", headers: first, body: body, now: now) == device.id)
        try store.revoke(device.id, now: now)
        let second = try identity.sign(method: "POST", path: "/v1/events", body: body, now: now)
        #expect(throws: AuthenticationFailure.revokedDevice) {
            _ = try verifier.verify(method: "POST", path: "/v1/events", headers: second, body: body, now: now)
        }
    }
}

@Suite("The access log's hash chain", .timeLimit(.minutes(10)))
struct AccessLogTests {
    @Test("entries are signed with a key kept beside the database, and verify after a reopen")
    func signed() throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
        for index in 0..<5 {
            try store.appendAccess(
                at: 1_764_000_000_000 + Int64(index), actor: "owner:alice", action: "clip-view", device: "d1",
                detail: "clip \(index)\nwith a newline", source: "web")
        }
        let entries = try store.accessLog(limit: 100)
        #expect(entries.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(entries[1].previousHash == entries[0].hash)
        let reopened = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
        #expect(reopened.accessPublicKey == store.accessPublicKey)
        #expect(AccessLogVerifier.verify(entries, log: "sync", publicKey: reopened.accessPublicKey).isEmpty)
        // A field cannot forge another: the newline inside `detail` is escaped in the hash input.
        var shifted = entries
        shifted[0].detail = "clip 0"
        shifted[0].source = "with a newline\nweb"
        #expect(AccessLogVerifier.verify(shifted, log: "sync", publicKey: store.accessPublicKey) == [.edited(1)])
    }

    @Test("a doorbell's entries are kept only if signed by it and following on from the copy")
    func mirrored() throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
        let identity = try DeviceIdentity()
        try store.addPairingCode("code", expiresAt: .max)
        _ = try store.pair(code: "code", publicKey: identity.publicKey, name: "porch", now: 0)
        let signer = try AccessSigner(log: identity.deviceID, privateKeyBytes: identity.privateKeyBytes)
        var records: [AccessRecord] = []
        for index in 0..<4 {
            records.append(
                try signer.entry(
                    after: records.last, at: Int64(index), actor: "local", action: "config", device: identity.deviceID,
                    detail: "", source: "SIGHUP"))
        }
        #expect(try store.appendMirrored(Array(records.prefix(2)), device: identity.deviceID) == 2)
        // Again, with more: the repeats are skipped.
        #expect(try store.appendMirrored(Array(records.prefix(3)), device: identity.deviceID) == 1)
        #expect(throws: MirrorRefusal.doesNotFollow(5)) {
            try store.appendMirrored(
                [
                    try signer.entry(
                        after: records[3], at: 9, actor: "", action: "x", device: "", detail: "", source: "")
                ], device: identity.deviceID)
        }
        var forged = records[3]
        forged.detail = "changed"
        #expect(throws: MirrorRefusal.notSigned(4)) { try store.appendMirrored([forged], device: identity.deviceID) }
        #expect(throws: MirrorRefusal.unknownDevice) { try store.appendMirrored(records, device: "stranger") }
        #expect(try store.lastAccessSequence(log: identity.deviceID) == 3)
        #expect(try store.accessRecords(log: identity.deviceID, after: 1, limit: 10) == Array(records[1...2]))
    }

    @Test("the sync module's log and its copies rotate at checkpoints and still verify; a flood without any is refused")
    func rotated() throws {
        let directory = try TemporaryDirectory()
        let rotation = AccessRotation(segment: 10, maximumKept: 30)
        let store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite", accessRotation: rotation)
        for index in 0..<100 {
            try store.appendAccess(
                at: 1_764_000_000_000 + Int64(index), actor: "owner:alice", action: "clip-view", device: "d1",
                detail: "clip \(index)", source: "web")
        }
        let own = try store.accessLog(limit: .max)
        #expect(own.count <= 30 && own.count > 20)
        #expect(own.first?.isCheckpoint == true && own.last?.detail == "clip 99")
        #expect(AccessLogVerifier.verify(own, log: "sync", publicKey: store.accessPublicKey).isEmpty)

        // A doorbell's log, rotated on the doorbell: the empty copy here begins at its checkpoint.
        let identity = try DeviceIdentity()
        try store.addPairingCode("code", expiresAt: .max)
        _ = try store.pair(code: "code", publicKey: identity.publicKey, name: "porch", now: 0)
        let signer = try AccessSigner(log: identity.deviceID, privateKeyBytes: identity.privateKeyBytes)
        let records = try signer.log(80, rotation: rotation, action: "config")
        let checkpoint = try #require(records.lastIndex { $0.isCheckpoint && Int($0.sequence) < records.count - 20 })
        for batch in stride(from: checkpoint, to: records.count, by: 7) {
            _ = try store.appendMirrored(
                Array(records[batch..<min(batch + 7, records.count)]), device: identity.deviceID)
        }
        let copy = try store.accessRecords(log: identity.deviceID, after: 0, limit: .max)
        #expect(copy.last == records.last && copy.count <= 30)
        #expect(AccessLogVerifier.verify(copy, log: identity.deviceID, publicKey: identity.publicKey).isEmpty)
        #expect(AccessLogVerifier.compare(reference: records, other: copy, otherName: "copy").findings.isEmpty)

        // A writer that never checkpoints (flooding) fills the copy to its hard limit, then is refused.
        let flooder = try DeviceIdentity()
        try store.addPairingCode("code2", expiresAt: .max)
        _ = try store.pair(code: "code2", publicKey: flooder.publicKey, name: "hostile", now: 0)
        let flooding = try AccessSigner(log: flooder.deviceID, privateKeyBytes: flooder.privateKeyBytes)
        var flood: [AccessRecord] = []
        for index in 0..<(rotation.hardLimit + 5) {
            flood.append(
                try flooding.entry(
                    after: flood.last, at: Int64(index), actor: "x", action: "x", device: "", detail: "", source: ""))
        }
        #expect(throws: MirrorRefusal.full) {
            for batch in stride(from: 0, to: flood.count, by: 10) {
                _ = try store.appendMirrored(
                    Array(flood[batch..<min(batch + 10, flood.count)]), device: flooder.deviceID)
            }
        }
        #expect(try store.accessRecords(log: flooder.deviceID, after: 0, limit: .max).count == rotation.hardLimit)
    }
}

@Suite("Owner keys at the sync module", .timeLimit(.minutes(10)))
struct OwnerKeyStoreTests {
    @Test("every key is signed: the first recovery key by itself, every other key (a second recovery key too) by it")
    func signedByRecovery() throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
        let keys = OwnerKeyring()
        let recovery = keys.recovery.publicKey
        let phone = OwnerKey().publicKey
        // Nothing before the recovery key, and no recovery key without its own signature.
        #expect(throws: OwnerKeyError.noRecovery) {
            try store.addOwnerKey(
                owner: "ann", label: "phone", publicKey: phone.base64, signature: keys.signature(of: phone), now: 1)
        }
        #expect(throws: OwnerKeyError.notSigned) {
            try store.addOwnerKey(owner: "ann", label: "recovery", publicKey: recovery.base64, signature: nil, now: 1)
        }
        let other = OwnerKey()
        let signedByOther = try KeyEndorsement.sign(recovery.x963, with: other).base64EncodedString()
        #expect(throws: OwnerKeyError.notSigned) {
            try store.addOwnerKey(
                owner: "ann", label: "recovery", publicKey: recovery.base64, signature: signedByOther, now: 1)
        }
        _ = try store.addOwnerKey(
            owner: "ann", label: "recovery", publicKey: recovery.base64, signature: keys.signature(of: recovery),
            now: 1)
        #expect(throws: OwnerKeyError.notSigned) {
            try store.addOwnerKey(owner: "ann", label: "phone", publicKey: phone.base64, signature: nil, now: 2)
        }
        let forged = try KeyEndorsement.sign(phone.x963, with: OwnerKey()).base64EncodedString()
        #expect(throws: OwnerKeyError.notSigned) {
            try store.addOwnerKey(owner: "ann", label: "phone", publicKey: phone.base64, signature: forged, now: 2)
        }
        // A second recovery key, signed by itself only, is a key like any other: refused.
        let selfSigned = try KeyEndorsement.sign(other.publicKey.x963, with: other).base64EncodedString()
        #expect(throws: OwnerKeyError.notSigned) {
            try store.addOwnerKey(
                owner: "ann", label: "recovery", publicKey: other.publicKey.base64, signature: selfSigned, now: 2)
        }
        let signature = keys.signature(of: phone)
        let added = try store.addOwnerKey(
            owner: "ann", label: "phone", publicKey: phone.base64, signature: signature, now: 3)
        #expect(try store.ownerKeys().last == added)
        #expect(added.signature == signature)

        // A notification key needs the recovery key's signature for that role, and is listed as one.
        let browser = OwnerKey().publicKey
        #expect(throws: OwnerKeyError.notSigned) {
            try store.addOwnerKey(
                owner: "ann", label: "browser", publicKey: browser.base64, signature: keys.signature(of: browser),
                role: .notification, now: 4)
        }
        let notification = try store.addOwnerKey(
            owner: "ann", label: "browser", publicKey: browser.base64,
            signature: try KeyEndorsement.sign(browser.x963, with: keys.recovery, role: .notification)
                .base64EncodedString(), role: .notification, now: 4)
        #expect(try store.ownerKeys().last == notification)
        #expect(try store.ownerKeys().last?.role == .notification)
        #expect(try store.ownerKeys().first?.role == .owner)
    }
}

@Suite("A database with values of the wrong type", .timeLimit(.minutes(10)))
struct WrongTypesTests {
    @Test("a value of the wrong type in a row is an error, never a trap: keys, devices and events")
    func wrongTypesThrow() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/sync.sqlite"
        let store = try SQLiteSyncStore(path: path)
        let keys = OwnerKeyring()
        let recovery = keys.recovery.publicKey
        _ = try store.addOwnerKey(
            owner: "ann", label: "recovery", publicKey: recovery.base64, signature: keys.signature(of: recovery), now: 1
        )
        try store.addPairingCode("code", expiresAt: .max)
        let device = try store.pair(code: "code", publicKey: try DeviceIdentity().publicKey, name: "porch", now: 0)
        _ = try store.ingest([wire(1)], from: device.id, now: 1)
        // Another writer (a bug, a disk fault, a hand edit) leaves bytes that are not text where text belongs, and text where a number does.
        let other = try DatabaseQueue(path: path)
        try other.write { db in
            try db.execute(sql: "UPDATE ownerKey SET signature = x'FFFE'")
            try db.execute(sql: "UPDATE device SET name = x'FFFE'")
            try db.execute(sql: "UPDATE event SET receivedAt = 'soon'")
        }
        #expect(throws: (any Error).self) { try store.ownerKeys() }
        #expect(throws: (any Error).self) { try store.devices() }
        #expect(throws: (any Error).self) { try store.events(after: 0, limit: 10) }
    }
}

import DoorbellCore
import DoorbellTestKit
import Foundation
import Privacy
import SyncProtocol
import Testing

@testable import Uplink

func ring(_ index: Int) -> DoorbellEvent {
    .ring(
        Ring(
            id: EventID.make(epochMilliseconds: 1_764_000_000_000 + Int64(index)), monotonic: .seconds(index),
            wall: WallTime(epochMilliseconds: 1_764_000_000_000 + Int64(index), minuteOfDay: 600), pressCount: 1,
            chimeSilenced: false))
}

@Suite("Outbox", .timeLimit(.minutes(10)))
struct OutboxTests {
    @Test("events come out in the order they went in, and delivered ones do not come out again")
    func orderAndDelivery() throws {
        let directory = try TemporaryDirectory()
        let outbox = try Outbox(path: directory.path + "/outbox.sqlite")
        let events = (0..<50).map(ring)
        for event in events { try outbox.append(event) }
        let pending = try outbox.pending(limit: 100)
        #expect(pending.map(\.event.eventID) == events.map { $0.id.rawValue })
        #expect(Set(pending.map(\.event.key)).count == 50)
        try outbox.markDelivered(upTo: pending[19].sequence)
        #expect(try outbox.pending(limit: 100).map(\.event.eventID) == events[20...].map { $0.id.rawValue })
        #expect(try outbox.backlog() == (30, 20))
    }

    @Test("what was committed is there after reopening, as after a crash")
    func survivesReopen() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/outbox.sqlite"
        do {
            let outbox = try Outbox(path: path)
            for index in 0..<10 { try outbox.append(ring(index)) }
        }
        let reopened = try Outbox(path: path)
        #expect(try reopened.pending().count == 10)
        let mode = try reopened.journalMode()
        #expect(mode == "wal")
    }

    @Test("motion and press-count events keep their fields on the wire")
    func wireFields() throws {
        let directory = try TemporaryDirectory()
        let outbox = try Outbox(path: directory.path + "/outbox.sqlite")
        let id = EventID.make(epochMilliseconds: 5)
        try outbox.append(
            .motion(
                MotionActivity(
                    id: id, phase: .started, monotonic: .seconds(1),
                    wall: WallTime(epochMilliseconds: 5, minuteOfDay: 0),
                    zones: ["path"], boxes: [MotionBox(x: 1, y: 2, width: 3, height: 4)], score: 1.5)))
        try outbox.append(.ringPressCount(ringID: id, pressCount: 3))
        let events = try outbox.pending().map(\.event)
        #expect(events[0].kind == .motionStarted && events[0].zones == ["path"] && events[0].boxes == [[1, 2, 3, 4]])
        #expect(events[1].kind == .ringPressCount && events[1].pressCount == 3 && events[1].eventID == id.rawValue)
    }
}

@Suite("The owner's keys at the doorbell", .timeLimit(.minutes(10)))
struct OwnerKeysFileTests {
    /// A recovery key and a phone key it signed, as the page makes them.
    struct Keys {
        let recovery = OwnerKey()
        let phone = OwnerKey().publicKey
        var recoveryWire: OwnerKeyWire {
            OwnerKeyWire(id: "r", label: "recovery", publicKey: recovery.publicKey.base64)
        }
        var phoneWire: OwnerKeyWire {
            let signature = try? KeyEndorsement.sign(phone.x963, with: recovery).base64EncodedString()
            return OwnerKeyWire(id: "p", label: "phone", publicKey: phone.base64, signature: signature)
        }
        var fingerprint: String { OwnerPublicKey.fingerprint(ofID: recovery.publicKey.id) }
        /// A file with the recovery key pinned and the phone key received.
        func pinned(_ directory: TemporaryDirectory) throws -> OwnerKeysFile {
            let file = OwnerKeysFile(stateDirectory: directory.path)
            try file.trust(point: recovery.publicKey.base64, fingerprint: fingerprint)
            try file.save([phoneWire, recoveryWire])
            return file
        }
    }

    @Test("no pin: held even with keys; pinned: sealed for them; all revoked later: nothing, never held again")
    func sealingOnceRequiredStaysRequired() throws {
        let directory = try TemporaryDirectory()
        let file = OwnerKeysFile(stateDirectory: directory.path)
        let keys = Keys()
        #expect(file.recipients() == nil && file.holding != nil)
        // The sync module's list alone pins nothing: media stays held.
        #expect(try file.save([keys.phoneWire, keys.recoveryWire]).changed)
        #expect(file.recipients() == nil && file.pinnedRecovery() == nil && file.holding != nil)
        try file.trust(fingerprint: keys.fingerprint)
        #expect(Set(file.recipients()?.map(\.id) ?? []) == [keys.phone.id, keys.recovery.publicKey.id])
        #expect(file.holding == nil)
        #expect(try file.save([]).changed)
        #expect(file.recipients() == [])
        #expect(try file.save([]).changed == false)
        #expect(file.holding == nil)
    }

    @Test("pinning: by the point pairing brought or a fingerprint among the keys sent; never another; reset forgets")
    func pinning() throws {
        let keys = Keys()
        let directory = try TemporaryDirectory()
        let file = OwnerKeysFile(stateDirectory: directory.path)
        #expect(throws: OwnerKeysFile.TrustError.noSuchKey(keys.fingerprint)) {
            try file.trust(fingerprint: keys.fingerprint)
        }
        // At pairing, before any list: sealed for the recovery key itself.
        let other = OwnerKey().publicKey.base64
        #expect(throws: OwnerKeysFile.TrustError.noSuchKey(keys.fingerprint)) {
            try file.trust(point: other, fingerprint: keys.fingerprint)
        }
        try file.trust(point: keys.recovery.publicKey.base64, fingerprint: keys.fingerprint.lowercased())
        #expect(file.recipients() == [keys.recovery.publicKey])
        // The same again does nothing; another needs a reset on the doorbell first.
        try file.trust(point: keys.recovery.publicKey.base64, fingerprint: keys.fingerprint)
        let intruder = OwnerKey().publicKey
        let intruderPrint = OwnerPublicKey.fingerprint(ofID: intruder.id)
        #expect(throws: OwnerKeysFile.TrustError.otherPinned(keys.fingerprint)) {
            try file.trust(point: intruder.base64, fingerprint: intruderPrint)
        }
        // Too short a fingerprint matches nothing.
        #expect(!OwnerKeysFile.matches(String(keys.fingerprint.prefix(9)), keys.recovery.publicKey.base64))
        try file.reset()
        #expect(file.recipients() == nil && file.pinnedRecovery() == nil)
    }

    @Test("a pin set or reset beside the daemon is noticed once each")
    func pinWatch() throws {
        let keys = Keys()
        let directory = try TemporaryDirectory()
        let file = OwnerKeysFile(stateDirectory: directory.path)
        let watch = PinWatch(file)
        #expect(watch.change() == String??.none)
        try file.trust(point: keys.recovery.publicKey.base64, fingerprint: keys.fingerprint)
        #expect(watch.change() == .some(keys.recovery.publicKey.base64))
        #expect(watch.change() == String??.none)
        try file.reset()
        #expect(watch.change() == .some(nil))
        #expect(watch.change() == String??.none)
    }

    @Test("a corrupt, unreadable or missing list after keys existed seals for nobody, and the next list repairs it")
    func failsClosed() throws {
        let keys = Keys()
        let breakages: [(String, (String) throws -> Void)] = [
            ("corrupt", { try Data("{\"keys\": [".utf8).write(to: URL(fileURLWithPath: $0)) }),
            ("missing", { try FileManager.default.removeItem(atPath: $0) }),
            (
                "unreadable",
                { path in
                    try FileManager.default.removeItem(atPath: path)
                    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
                }
            ),
        ]
        for (name, breakFile) in breakages {
            let directory = try TemporaryDirectory()
            let file = try keys.pinned(directory)
            let both: Set<String> = [keys.phone.id, keys.recovery.publicKey.id]
            #expect(Set(file.recipients()?.map(\.id) ?? []) == both, "\(name)")
            try breakFile(file.path)
            // Never nil (held) again: nothing to seal for, so nothing is kept.
            #expect(file.recipients() == [], "\(name)")
            #expect(file.problem?.isEmpty == false, "\(name)")
            if name == "unreadable" { try FileManager.default.removeItem(atPath: file.path) }
            try file.save([keys.phoneWire, keys.recoveryWire])
            #expect(Set(file.recipients()?.map(\.id) ?? []) == both, "\(name)")
            #expect(file.problem == nil, "\(name)")
        }
    }

    @Test("the pinned recovery key outlives a corrupt list; a corrupt pin saves nothing and seals for nobody")
    func pinOutlivesList() throws {
        let directory = try TemporaryDirectory()
        let keys = Keys()
        let file = try keys.pinned(directory)
        try Data("not json".utf8).write(to: URL(fileURLWithPath: file.path))
        // A sync module that sends its own key now, hoping the pin went with the list.
        let intruder = OwnerKeyWire(id: "m", label: "recovery", publicKey: OwnerKey().publicKey.base64)
        let outcome = try file.save([intruder])
        #expect(outcome.refused == [intruder])
        #expect(file.recipients() == [])
        #expect(file.pinnedRecovery() == keys.recovery.publicKey.base64)
        try file.save([keys.recoveryWire])
        #expect(file.recipients() == [keys.recovery.publicKey])

        try Data("{".utf8).write(to: URL(fileURLWithPath: directory.path + "/owner-keys.pin"))
        #expect(file.recipients() == [])
        #expect(throws: OwnerKeysFile.Unreadable.self) { try file.save([keys.recoveryWire]) }
        #expect(throws: OwnerKeysFile.TrustError.self) { try file.trust(fingerprint: keys.fingerprint) }
    }

    @Test("once pinned, only keys the recovery key signed are kept, whatever the sync module sends")
    func recoveryKeyVouches() throws {
        let directory = try TemporaryDirectory()
        let keys = Keys()
        let file = try keys.pinned(directory)
        #expect(Set(file.recipients()?.map(\.id) ?? []) == [keys.phone.id, keys.recovery.publicKey.id])

        // A sync module adds a key of its own, unsigned, signed by itself, or with another recovery key.
        let intruder = OwnerKey()
        let stranger = OwnerKey().publicKey
        let forged = try KeyEndorsement.sign(stranger.x963, with: intruder).base64EncodedString()
        let copied = OwnerKeyWire(
            id: "s2", label: "mallory", publicKey: stranger.base64, signature: keys.phoneWire.signature)
        let outcome = try file.save([
            keys.phoneWire, keys.recoveryWire, OwnerKeyWire(id: "s", label: "mallory", publicKey: stranger.base64),
            OwnerKeyWire(id: "s1", label: "mallory", publicKey: stranger.base64, signature: forged), copied,
            OwnerKeyWire(id: "r2", label: "recovery", publicKey: intruder.publicKey.base64),
        ])
        #expect(outcome.refused.map(\.id) == ["s", "s1", "s2", "r2"])
        #expect(Set(file.recipients()?.map(\.id) ?? []) == [keys.phone.id, keys.recovery.publicKey.id])
        #expect(file.pinnedRecovery() == keys.recovery.publicKey.base64)
    }
}

@Suite("Notification keys at the doorbell", .timeLimit(.minutes(10)))
struct NotificationKeyTests {
    static func ids(_ keys: [OwnerPublicKey]?) -> [String] { keys?.map(\.id) ?? [] }

    @Test(
        "a notification key is sealed for in thumbnails only; relabelled as an owner key, or with a role unknown here, it is trusted for nothing"
    )
    func rolesAtTheDoorbell() throws {
        let directory = try TemporaryDirectory()
        let keys = OwnerKeysFileTests.Keys()
        let browser = OwnerKey().publicKey
        let signature = try KeyEndorsement.sign(browser.x963, with: keys.recovery, role: .notification)
            .base64EncodedString()
        let notification = OwnerKeyWire(
            id: "n", label: "phone (notifications)", publicKey: browser.base64, signature: signature,
            role: "notification")
        let file = try keys.pinned(directory)
        try file.save([keys.phoneWire, keys.recoveryWire, notification])
        let owners = Set(file.recipients()?.map(\.id) ?? [])
        #expect(owners == [keys.phone.id, keys.recovery.publicKey.id])
        #expect(Set(file.thumbnailRecipients()?.map(\.id) ?? []) == owners.union([browser.id]))

        // A sync module that presents it as an owner key: its signature is for a notification key.
        var promoted = notification
        promoted.role = nil
        try file.save([keys.phoneWire, keys.recoveryWire, promoted])
        #expect(!Self.ids(file.recipients()).contains(browser.id))
        #expect(!Self.ids(file.thumbnailRecipients()).contains(browser.id))
        var unknown = notification
        unknown.role = "viewer"
        try file.save([keys.phoneWire, keys.recoveryWire, unknown])
        #expect(!Self.ids(file.thumbnailRecipients()).contains(browser.id))
        // An owner key's endorsement does not make a notification key either.
        let ownerSigned = OwnerKeyWire(
            id: "n", label: "x", publicKey: browser.base64,
            signature: try KeyEndorsement.sign(browser.x963, with: keys.recovery).base64EncodedString(),
            role: "notification")
        try file.save([keys.phoneWire, keys.recoveryWire, ownerSigned])
        #expect(!Self.ids(file.thumbnailRecipients()).contains(browser.id))
    }
}

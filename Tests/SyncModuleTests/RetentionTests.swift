import DoorbellTestKit
import Foundation
import Logging
import SyncStorage
import SyncProtocol
import Testing
import Uplink

/// Retention at the sync module: media past its days, and the oldest when the quota is reached,
/// are shredded and deleted, and each batch is in the access log.
@Suite("Media retention at the sync module", .timeLimit(.minutes(10)))
struct RetentionTests {
    static let day: Int64 = 86_400_000
    let now: Int64 = 1_764_000_000_000

    /// A store with complete items `ages` days old, 100 KiB each, in the media folder.
    func setUp(_ directory: TemporaryDirectory, ages: [Int64], maxBytes: Int = 0) throws -> (
        SQLiteSyncStore, MediaFiles, [MediaRecord]
    ) {
        let store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
        try store.addPairingCode("RETN-CODE", expiresAt: now + 60_000)
        let device = try store.pair(code: "RETN-CODE", publicKey: DeviceIdentity().publicKey, name: "Front", now: now)
        let layout = try MediaFiles(directory: directory.path + "/media", maxBytes: 0)
        var records: [MediaRecord] = []
        for (index, age) in ages.enumerated() {
            let record = MediaRecord(
                deviceID: device.id, mediaID: "m\(index)-clip", eventID: "e\(index)", kind: .clip, size: 100 << 10,
                sha256: "", createdAt: now - age * Self.day, completedAt: now - age * Self.day)
            try store.beginMedia(record)
            try store.completeMedia(record.mediaID, from: device.id, now: record.completedAt!)
            try FileManager.default.createDirectory(
                atPath: directory.path + "/media/\(device.id)", withIntermediateDirectories: true)
            #expect(
                FileManager.default.createFile(
                    atPath: layout.path(record), contents: Data(repeating: UInt8(index + 1), count: 100 << 10)))
            records.append(record)
        }
        // Counted from the disk at start, as after a restart.
        return (store, try MediaFiles(directory: directory.path + "/media", maxBytes: maxBytes), records)
    }

    @Test("media older than the retention is shredded and deleted, newer media stays, the batch is logged")
    func sweep() throws {
        let directory = try TemporaryDirectory()
        let (store, files, records) = try setUp(directory, ages: [40, 31, 1])
        // A leftover copy of the oldest file (as a backup or the flash layer could keep).
        let leftover = directory.path + "/leftover"
        #expect(link(files.path(records[0]), leftover) == 0)
        let retention = MediaRetention(
            store: store, files: files, days: 30, logger: Logger(label: "test"), now: { [now] in now })
        let swept = retention.sweep()
        #expect(swept.items == 2 && swept.bytes == 200 << 10)
        #expect(try store.completedMedia(before: nil, limit: 10).map(\.mediaID) == ["m2-clip"])
        #expect(!FileManager.default.fileExists(atPath: files.path(records[0])))
        #expect(!FileManager.default.fileExists(atPath: files.path(records[1])))
        #expect(FileManager.default.fileExists(atPath: files.path(records[2])))
        #expect(files.usedBytes == 100 << 10)
        // The copy kept the file's length but its start, where sealed media keeps its keys, is zero.
        let copy = try #require(FileManager.default.contents(atPath: leftover))
        #expect(copy.count == 100 << 10 && copy.prefix(64 << 10).allSatisfy { $0 == 0 })
        let entry = try #require(try store.accessLog(limit: 10).first)
        #expect(entry.action == "retention-delete" && entry.actor == "sync-module")
        #expect(entry.detail.contains("2 item(s)") && entry.detail.contains("older than 30 days"))
        #expect(retention.sweep().items == 0)
    }

    @Test("at the quota the oldest items make room; an item larger than the quota deletes nothing")
    func quota() throws {
        let directory = try TemporaryDirectory()
        let (store, files, records) = try setUp(directory, ages: [3, 2, 1], maxBytes: 300 << 10)
        let retention = MediaRetention(
            store: store, files: files, days: 30, logger: Logger(label: "test"), now: { [now] in now })
        let device = records[0].deviceID
        #expect(retention.makeRoom(400 << 10, for: device) == false)
        #expect(try store.completedMedia(before: nil, limit: 10).count == 3)
        #expect(retention.makeRoom(150 << 10, for: device))
        #expect(try store.completedMedia(before: nil, limit: 10).map(\.mediaID) == ["m2-clip"])
        #expect(!FileManager.default.fileExists(atPath: files.path(records[1])))
        #expect(files.usedBytes == 100 << 10)
        #expect(try store.accessLog(limit: 10).first?.action == "quota-delete")
    }

    /// Adds a second doorbell with complete items `ages` days old, 100 KiB each.
    func addDoorbell(_ store: SQLiteSyncStore, _ directory: TemporaryDirectory, ages: [Int64]) throws -> [MediaRecord] {
        try store.addPairingCode("BACK-CODE", expiresAt: now + 60_000)
        let device = try store.pair(code: "BACK-CODE", publicKey: DeviceIdentity().publicKey, name: "Back", now: now)
        let layout = try MediaFiles(directory: directory.path + "/media", maxBytes: 0)
        try FileManager.default.createDirectory(
            atPath: directory.path + "/media/\(device.id)", withIntermediateDirectories: true)
        return try ages.enumerated().map { index, age in
            let record = MediaRecord(
                deviceID: device.id, mediaID: "b\(index)-clip", eventID: "b\(index)", kind: .clip, size: 100 << 10,
                sha256: "", createdAt: now - age * Self.day, completedAt: now - age * Self.day)
            try store.beginMedia(record)
            try store.completeMedia(record.mediaID, from: device.id, now: record.completedAt!)
            #expect(FileManager.default.createFile(atPath: layout.path(record), contents: Data(count: 100 << 10)))
            return record
        }
    }

    @Test("at the quota a doorbell that holds the most loses its own media, not the oldest of another")
    func quotaPerDoorbell() throws {
        let directory = try TemporaryDirectory()
        // The front door: five items, the newest; the back door: one, the oldest of all.
        let (store, _, front) = try setUp(directory, ages: [5, 4, 3, 2, 1])
        let back = try addDoorbell(store, directory, ages: [20])
        let files = try MediaFiles(directory: directory.path + "/media", maxBytes: 600 << 10)
        let retention = MediaRetention(
            store: store, files: files, days: 30, logger: Logger(label: "test"), now: { [now] in now })
        // The front door uploads one more: its own oldest goes, the back door's stays.
        #expect(retention.makeRoom(100 << 10, for: front[0].deviceID))
        let kept = Set(try store.completedMedia(before: nil, limit: 10).map(\.mediaID))
        #expect(kept == ["m1-clip", "m2-clip", "m3-clip", "m4-clip", "b0-clip"])
        // The back door's upload is made room for from the front door, which holds more.
        #expect(retention.makeRoom(200 << 10, for: back[0].deviceID))
        #expect(
            try store.completedMedia(before: nil, limit: 10, device: back[0].deviceID).map(\.mediaID) == ["b0-clip"])
        #expect(
            try store.completedMedia(before: nil, limit: 10, device: front[0].deviceID).map(\.mediaID) == [
                "m2-clip", "m3-clip", "m4-clip",
            ])
    }

    @Test("an upload with no chunk for a day is discarded and logged; one still arriving stays")
    func stalledUploads() throws {
        let directory = try TemporaryDirectory()
        let (store, files, records) = try setUp(directory, ages: [1])
        let device = records[0].deviceID
        for (index, age) in [Int64(2), 0].enumerated() {
            let record = MediaRecord(
                deviceID: device, mediaID: "u\(index)-clip", eventID: "u\(index)", kind: .clip, size: 1 << 20,
                sha256: "", createdAt: now - age * Self.day)
            try store.beginMedia(record)
        }
        // The old announcement has a chunk on disk, written two days ago.
        let partial = directory.path + "/media/\(device)/u0-clip.part"
        #expect(FileManager.default.createFile(atPath: partial, contents: Data(count: 4096)))
        var times = [timespec(tv_sec: Int((now - 2 * Self.day) / 1000), tv_nsec: 0)]
        times.append(times[0])
        #expect(utimensat(AT_FDCWD, partial, times, 0) == 0)
        let retention = MediaRetention(
            store: store, files: files, days: 30, logger: Logger(label: "test"), now: { [now] in now })
        retention.sweep()
        #expect(try store.unfinishedMedia(device: nil).map(\.mediaID) == ["u1-clip"])
        #expect(!FileManager.default.fileExists(atPath: partial))
        let entry = try #require(try store.accessLog(limit: 10).first)
        #expect(entry.action == "upload-expire" && entry.detail.contains("1 unfinished upload"))
        #expect(try store.completedMedia(before: nil, limit: 10).count == 1)
    }
}

@Suite("Share links in the store", .timeLimit(.minutes(10)))
struct ShareStoreTests {
    static let wrapped = Data(repeating: 7, count: 12 + 32).base64EncodedString()

    @Test("a share opens until it expires or is revoked, by the store's clock; its lifetime is bounded")
    func lifetime() throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
        let start: Int64 = 1_764_000_000_000
        let hour: Int64 = 3_600_000
        let share = try store.createShare(
            tokenHash: sha256Hex(Data("token".utf8)), deviceID: "d1", mediaID: "evt-clip", wrappedKey: Self.wrapped,
            owner: "ann", now: start, expiresAt: start + hour)
        let found = try #require(try store.share(tokenHash: sha256Hex(Data("token".utf8))))
        #expect(found == share)
        #expect(found.isLive(now: start + hour - 1))
        #expect(!found.isLive(now: start + hour))
        #expect(try store.share(tokenHash: sha256Hex(Data("other".utf8))) == nil)
        // An expired share cannot be revoked (it is over already); a live one can, once.
        #expect(try store.revokeShare(share.id, now: start + hour) == false)
        #expect(try store.revokeShare(share.id, now: start + 1) == true)
        #expect(try store.revokeShare(share.id, now: start + 2) == false)
        #expect(try store.share(tokenHash: sha256Hex(Data("token".utf8)))?.isLive(now: start + 3) == false)

        #expect(throws: ShareError.invalidLifetime) {
            try store.createShare(
                tokenHash: "a", deviceID: "d1", mediaID: "m", wrappedKey: Self.wrapped, owner: "ann", now: start,
                expiresAt: start + 31 * 24 * hour)
        }
        #expect(throws: ShareError.invalidKey) {
            try store.createShare(
                tokenHash: "b", deviceID: "d1", mediaID: "m", wrappedKey: "c2hvcnQ=", owner: "ann", now: start,
                expiresAt: start + hour)
        }
    }

    @Test("deleting the clip deletes its shares' wrapped keys")
    func shredded() throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
        _ = try store.createShare(
            tokenHash: "t", deviceID: "d1", mediaID: "evt-clip", wrappedKey: Self.wrapped, owner: "ann", now: 0,
            expiresAt: 3_600_000)
        let record = MediaRecord(
            deviceID: "d1", mediaID: "evt-clip", eventID: "evt", kind: .clip, size: 1, sha256: "", createdAt: 1,
            completedAt: 1)
        try store.deleteMedia([record])
        #expect(try store.shares().isEmpty)
        #expect(try store.share(tokenHash: "t") == nil)
    }
}

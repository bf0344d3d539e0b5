import DoorbellCore
import DoorbellTestKit
import Foundation
import JPEG
import Privacy
import Synchronization
import Testing

@testable import Media

/// Media sealed for the owner's keys as the doorbell writes it.
@Suite("Sealed snapshots and clips", .timeLimit(.minutes(10)))
struct SealedMediaStoreTests {
    @Test("with an owner key, a snapshot is sealed on disk and opens to the JPEG; without one it stays plain")
    func snapshot() throws {
        let directory = try TemporaryDirectory()
        let owner = OwnerKey()
        let jpeg = try loadFrames("vtest_640x480.mjpeg")[0]
        let id = EventID.make(epochMilliseconds: 1_764_000_000_000)
        let sealedStore = try MediaStore(
            directory: directory.path + "/a", maxBytes: 1 << 30, recipients: { [owner.publicKey] })
        try sealedStore.writeSnapshot(jpeg, for: id)
        let onDisk = try [UInt8](#require(FileManager.default.contents(atPath: sealedStore.snapshotPath(id))))
        #expect(Array(onDisk.prefix(4)) == Array("PLS1".utf8))
        #expect(!onDisk.starts(with: [0xFF, 0xD8]))
        let opened = try SealedMedia.open(onDisk, with: owner)
        #expect(opened.complete && opened.plaintext == jpeg)

        let heldStore = try MediaStore(directory: directory.path + "/b", maxBytes: 1 << 30)
        try heldStore.writeSnapshot(jpeg, for: id)
        #expect(FileManager.default.contents(atPath: heldStore.snapshotPath(id, sealed: false)) == Data(jpeg))
        #expect(!FileManager.default.fileExists(atPath: heldStore.snapshotPath(id)))
    }

    @Test("without a pinned key media is held, not waiting; once keys come it is sealed, waits, and the plaintext goes")
    func heldUntilKeys() throws {
        let directory = try TemporaryDirectory()
        let owner = OwnerKey()
        let keys = Mutex<[OwnerPublicKey]?>(nil)
        let store = try MediaStore(directory: directory.path, maxBytes: 1 << 30, recipients: { keys.withLock { $0 } })
        let jpeg = try loadFrames("vtest_640x480.mjpeg")[0]
        let first = EventID.make(epochMilliseconds: 1_764_000_000_000)
        let second = EventID.make(epochMilliseconds: 1_764_000_001_000)
        try store.writeSnapshot(jpeg, for: first)
        let writer = try ClipWriter(
            path: store.clipPath(second, sealed: false),
            header: ClipFile.Header(eventID: second.rawValue, width: 640, height: 480),
            sealer: store.sealer(for: second, kind: .clip))
        // More than one 64 KiB step, so that the clip is sealed in pieces.
        for index in 0..<12 {
            try writer.append(
                Frame(
                    bytes: jpeg, format: .mjpeg, width: 640, height: 480, timestamp: .milliseconds(100 * index),
                    sequence: UInt64(index)))
        }
        try writer.finish()
        let plainClip = try [UInt8](
            #require(FileManager.default.contents(atPath: store.clipPath(second, sealed: false))))
        #expect(plainClip.count > 64 << 10)
        #expect(try store.waiting().isEmpty)
        // The held items count against the bound like any other.
        #expect(try store.stored().count == 2)

        keys.withLock { $0 = [owner.publicKey] }
        let waiting = try store.waiting()
        #expect(waiting.map(\.id) == ["\(first)-snapshot", "\(second)-clip"])
        for path in [store.snapshotPath(first, sealed: false), store.clipPath(second, sealed: false)] {
            #expect(!FileManager.default.fileExists(atPath: path))
        }
        let snapshot = try SealedMedia.open(
            [UInt8](#require(FileManager.default.contents(atPath: store.snapshotPath(first)))), with: owner)
        #expect(snapshot.complete && snapshot.plaintext == jpeg)
        let clip = try SealedMedia.open(
            [UInt8](#require(FileManager.default.contents(atPath: store.clipPath(second)))), with: owner)
        #expect(clip.complete && clip.plaintext == plainClip)
    }

    /// Each cluster (a second) is sealed as it closes, so a clip cut by a power loss opens up to
    /// its last whole second.
    @Test("a sealed clip opens to the same Matroska; cut short, it opens to its complete seconds")
    func clip() throws {
        let directory = try TemporaryDirectory()
        let owner = OwnerKey()
        let id = EventID.make(epochMilliseconds: 1_764_000_000_000)
        let store = try MediaStore(directory: directory.path, maxBytes: 1 << 30, recipients: { [owner.publicKey] })
        let writer = try ClipWriter(
            path: store.clipPath(id), header: ClipFile.Header(eventID: id.rawValue, width: 640, height: 480),
            sealer: store.sealer(for: id, kind: .clip))
        let jpegs = try loadFrames("vtest_640x480.mjpeg")
        var ends: [Int] = []
        for index in 0..<30 {
            try writer.append(
                Frame(
                    bytes: jpegs[index % jpegs.count], format: .mjpeg, width: 640, height: 480,
                    timestamp: .milliseconds(5000 + 100 * index), sequence: UInt64(index)))
            ends.append(writer.byteCount)
        }
        try writer.finish()
        let sealed = try [UInt8](#require(FileManager.default.contents(atPath: store.clipPath(id))))
        let opened = try SealedMedia.open(sealed, with: owner)
        #expect(opened.complete)
        let clip = try ClipFile.read(opened.plaintext)
        #expect(clip.frames.count == 30 && !clip.truncated)
        #expect(clip.frames.map(\.bytes) == (0..<30).map { jpegs[$0 % jpegs.count] })

        // Cut after frame 25 was written: at least the first two seconds (sealed when the third
        // began) open, and nothing written after the cut.
        let cut = try SealedMedia.open(Array(sealed.prefix(ends[24])), with: owner)
        #expect(!cut.complete)
        let partial = try ClipFile.read(cut.plaintext)
        #expect((20...25).contains(partial.frames.count), "frames: \(partial.frames.count)")
    }

    /// After the owner's keys are all revoked (or a sync module sends none), nothing is written in
    /// the clear: the snapshot is refused.
    @Test("with keys once but none left, media is refused, never written unsealed")
    func noFallbackToPlaintext() throws {
        let directory = try TemporaryDirectory()
        let store = try MediaStore(directory: directory.path, maxBytes: 1 << 30, recipients: { [] })
        let id = EventID.make(epochMilliseconds: 1_764_000_000_000)
        #expect(throws: SealError.noRecipients) { try store.writeSnapshot([0xFF, 0xD8, 0xFF, 0xD9], for: id) }
        #expect(!FileManager.default.fileExists(atPath: store.snapshotPath(id)))
        #expect(throws: SealError.noRecipients) { try store.sealer(for: id, kind: .clip) }
    }
}

@Suite("Notification thumbnails", .timeLimit(.minutes(10)))
struct ThumbnailTests {
    @Test("a 640x480 frame becomes a 320x240 thumbnail under 20 KB, scaled in the IDCT")
    func size() throws {
        let jpeg = try loadFrames("vtest_640x480.mjpeg")[0]
        let thumbnail = try JPEGThumbnailer().thumbnail(jpeg)
        let decoder = try JPEGDecoder()
        #expect(try decoder.size(of: thumbnail) == (320, 240))
        #expect(thumbnail.count < 20_000, "\(thumbnail.count) bytes")
        // Already small enough: kept at its size.
        #expect(try decoder.size(of: try JPEGThumbnailer().thumbnail(thumbnail)) == (320, 240))
    }

    @Test("the thumbnail is sealed for the notification keys too, the snapshot not; thumbnails wait first")
    func sealedForNotificationKeys() throws {
        let directory = try TemporaryDirectory()
        let owner = OwnerKey()
        let notification = OwnerKey()
        let store = try MediaStore(
            directory: directory.path, maxBytes: 1 << 30, recipients: { [owner.publicKey] },
            thumbnailRecipients: { [owner.publicKey, notification.publicKey] })
        let jpeg = try loadFrames("vtest_640x480.mjpeg")[0]
        let older = EventID.make(epochMilliseconds: 1_764_000_000_000)
        let newer = EventID.make(epochMilliseconds: 1_764_000_001_000)
        try store.writeSnapshot(jpeg, for: older)
        let small = try JPEGThumbnailer().thumbnail(jpeg)
        try store.writeThumbnail(small, for: newer)
        try store.writeSnapshot(jpeg, for: newer)
        let thumbnail = try [UInt8](#require(FileManager.default.contents(atPath: store.thumbnailPath(newer))))
        #expect(try SealedMedia.open(thumbnail, with: notification).plaintext == small)
        #expect(try SealedMedia.open(thumbnail, with: owner).plaintext == small)
        let snapshot = try [UInt8](#require(FileManager.default.contents(atPath: store.snapshotPath(newer))))
        #expect(throws: SealError.self) { try SealedMedia.open(snapshot, with: notification) }
        #expect(try store.waiting().map(\.id) == ["\(newer)-thumbnail", "\(older)-snapshot", "\(newer)-snapshot"])
    }
}

import Foundation
import Logging

/// The owner's retention rules for stored media: snapshots and clips are deleted `days` after they
/// arrived, and when the media quota (`storage.media_max_mb`) is reached the oldest of the doorbell
/// that holds the most go first to make room, so that one doorbell (busy, broken or hostile) pushes
/// out its own media and not another's. Uploads left unfinished for `unfinishedLifetime` are
/// discarded. Deletion shreds the file (`MediaFiles.shred`), and every batch is an access-log
/// entry, so the owner can see what went and why.
public final class MediaRetention: Sendable {
    let store: any OwnerStore & SyncStore
    let files: MediaFiles
    public let days: Int
    let logger: Logger
    let now: @Sendable () -> Int64
    /// How long an upload may go without a new chunk before it is discarded.
    let unfinishedLifetime: Int64

    public init(
        store: any OwnerStore & SyncStore, files: MediaFiles, days: Int, logger: Logger,
        unfinishedLifetime: Duration = .seconds(86_400),
        now: @escaping @Sendable () -> Int64 = unixMilliseconds
    ) {
        self.store = store
        self.files = files
        self.days = days
        self.logger = logger
        self.unfinishedLifetime = Int64(unfinishedLifetime / .milliseconds(1))
        self.now = now
    }

    /// Deletes what is past the retention, and uploads that stalled; returns how many complete
    /// items and bytes went.
    @discardableResult
    public func sweep() -> (items: Int, bytes: Int) {
        expireUnfinished()
        let cutoff = now() - Int64(days) * 86_400_000
        var total = (items: 0, bytes: 0)
        while let batch = oldest(before: cutoff, limit: 500), !batch.isEmpty {
            let freed = delete(batch, action: "retention-delete", why: "older than \(days) days")
            guard freed.items > 0 else { break }
            total = (total.items + freed.items, total.bytes + freed.bytes)
        }
        return total
    }

    /// The oldest complete items, or nil (logged) when the store cannot be read.
    private func oldest(before: Int64?, limit: Int, device: String? = nil) -> [MediaRecord]? {
        do {
            return try store.completedMedia(before: before, limit: limit, device: device)
        } catch {
            logger.error("Cannot list stored media for retention.", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Frees `bytes` for `device`'s upload by deleting complete items, if deleting can be enough;
    /// returns whether it is. Each round takes the oldest items of the doorbell that holds the
    /// most, counting `bytes` as `device`'s: a doorbell that fills the quota loses its own media
    /// first, and another's only while that one holds more. Items being uploaded are never deleted.
    public func makeRoom(_ bytes: Int, for device: String) -> Bool {
        guard files.maxBytes > 0, bytes <= files.maxBytes else { return false }
        var needed = files.usedBytes + bytes - files.maxBytes
        while needed > 0 {
            guard var held = try? store.completedMediaBytes() else { return false }
            held[device, default: 0] += bytes
            guard let largest = held.max(by: { ($0.value, $1.key) < ($1.value, $0.key) })?.key,
                let oldest = oldest(before: nil, limit: 20, device: largest), !oldest.isEmpty
            else { return false }
            var batch: [MediaRecord] = []
            for record in oldest where needed > 0 {
                batch.append(record)
                needed -= record.size
            }
            let freed = delete(
                batch, action: "quota-delete",
                why: "to make room within storage.media_max_mb = \(files.maxBytes >> 20)")
            guard freed.items > 0 else { return false }
            needed = files.usedBytes + bytes - files.maxBytes
        }
        return true
    }

    /// Discards uploads with no new chunk for `unfinishedLifetime` (a doorbell that went away, or
    /// one that announces and never sends), so that they hold no disk and no upload slot.
    func expireUnfinished() {
        let cutoff = now() - unfinishedLifetime
        guard let unfinished = try? store.unfinishedMedia(device: nil) else {
            logger.error("Cannot list unfinished uploads.")
            return
        }
        var expired: [MediaRecord] = []
        let stalled = unfinished.filter { max($0.createdAt, files.lastWrite($0.deviceID, $0.mediaID)) < cutoff }
        for record in stalled {
            do {
                try store.discardMedia(record.mediaID, from: record.deviceID)
                files.discard(record.deviceID, record.mediaID)
                expired.append(record)
            } catch {
                logger.error(
                    "Cannot discard a stalled upload.", metadata: ["media": "\(record.mediaID)", "error": "\(error)"])
            }
        }
        guard !expired.isEmpty else { return }
        let devices = Set(expired.map(\.deviceID)).sorted().joined(separator: ",")
        _ = try? store.appendAccess(
            at: now(), actor: "sync-module", action: "upload-expire", device: devices,
            detail: "\(expired.count) unfinished upload(s) with no chunk for \(unfinishedLifetime / 3_600_000) h",
            source: "retention")
        logger.notice("Stalled uploads discarded.", metadata: ["items": "\(expired.count)"])
    }

    private func delete(_ records: [MediaRecord], action: String, why: String) -> (items: Int, bytes: Int) {
        var gone: [MediaRecord] = []
        var bytes = 0
        for record in records {
            do {
                bytes += try files.shred(record)
                gone.append(record)
            } catch {
                logger.error(
                    "Cannot delete media.", metadata: ["media": "\(record.mediaID)", "error": "\(error)"])
            }
        }
        guard !gone.isEmpty else { return (0, 0) }
        do {
            try store.deleteMedia(gone)
            let devices = Set(gone.map(\.deviceID)).sorted().joined(separator: ",")
            _ = try store.appendAccess(
                at: now(), actor: "sync-module", action: action, device: devices,
                detail: "\(gone.count) item(s), \(bytes / 1024) KiB, \(why)", source: "retention")
        } catch {
            logger.error("Cannot record deleted media.", metadata: ["error": "\(error)"])
        }
        logger.notice(
            "Media deleted.", metadata: ["action": "\(action)", "items": "\(gone.count)", "bytes": "\(bytes)"])
        return (gone.count, bytes)
    }
}

import Foundation
import Logging

/// The owner's retention rules for stored media: snapshots and clips are deleted `days` after they
/// arrived, and when the media quota (`storage.media_max_mb`) is reached the oldest go first to
/// make room. Deletion shreds the file (`MediaFiles.shred`), and every batch is an access-log
/// entry, so the owner can see what went and why.
public final class MediaRetention: Sendable {
    let store: any OwnerStore & SyncStore
    let files: MediaFiles
    public let days: Int
    let logger: Logger
    let now: @Sendable () -> Int64

    public init(
        store: any OwnerStore & SyncStore, files: MediaFiles, days: Int, logger: Logger,
        now: @escaping @Sendable () -> Int64 = SyncAPI.unixMilliseconds
    ) {
        self.store = store
        self.files = files
        self.days = days
        self.logger = logger
        self.now = now
    }

    /// Deletes what is past the retention; returns how many items and bytes went.
    @discardableResult
    public func sweep() -> (items: Int, bytes: Int) {
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
    private func oldest(before: Int64?, limit: Int) -> [MediaRecord]? {
        do {
            return try store.completedMedia(before: before, limit: limit)
        } catch {
            logger.error("Cannot list stored media for retention.", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Frees `bytes` by deleting the oldest complete items, if deleting can be enough; returns
    /// whether it is. Items being uploaded are never deleted.
    public func makeRoom(_ bytes: Int) -> Bool {
        guard files.maxBytes > 0, bytes <= files.maxBytes else { return false }
        var needed = files.usedBytes + bytes - files.maxBytes
        while needed > 0 {
            guard let oldest = oldest(before: nil, limit: 20), !oldest.isEmpty else { return false }
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

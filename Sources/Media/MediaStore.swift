import DoorbellCore
import Foundation
import Privacy
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Snapshots and clips on local storage, waiting for the uplink to take them. Bounded: when the
/// store grows past its limit the oldest media go first, and media older than the owner's
/// retention (`privacy.retention_days`; it only happens when the sync module has been out of
/// reach that long) goes too, each reported to `evicted` so that the owner learns of it (events
/// themselves are never dropped here). Files are written under a
/// temporary name, fsynced and renamed, so a file with its final name is complete. Once the sync
/// module holds an item, it is deleted here.
public struct MediaStore: MediaQueue {
    public enum Eviction: Sendable, Equatable {
        /// The store reached `maxBytes`.
        case full
        /// Older than `maxAge`.
        case expired
    }

    public let directory: String
    public let maxBytes: Int
    public let maxAge: Duration?
    /// The owner's current public keys, which media is sealed for as it is written; nil while the
    /// owner has never had a key (media is then stored unsealed, as before encryption existed). An
    /// empty list after keys existed (all revoked, or a sync module trying to switch sealing off)
    /// means nothing can be sealed, and nothing is stored: never a fall back to plaintext.
    let recipients: @Sendable () -> [OwnerPublicKey]?
    let evicted: @Sendable (MediaItem, Eviction) -> Void

    public init(
        directory: String, maxBytes: Int, maxAge: Duration? = nil,
        recipients: @escaping @Sendable () -> [OwnerPublicKey]? = { nil },
        evicted: @escaping @Sendable (MediaItem, Eviction) -> Void = { _, _ in }
    ) throws {
        self.directory = directory
        self.maxBytes = maxBytes
        self.maxAge = maxAge
        self.recipients = recipients
        self.evicted = evicted
        for sub in ["snapshots", "clips"] {
            try FileManager.default.createDirectory(
                atPath: "\(directory)/\(sub)", withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        }
        try recover()
    }

    /// After a crash: a clip that was being written is a valid Matroska prefix, so it keeps its
    /// frames under its final name; a half-written snapshot is useless and goes.
    func recover() throws {
        let clips = "\(directory)/clips"
        for name in try FileManager.default.contentsOfDirectory(atPath: clips) where name.hasSuffix(".partial") {
            try FileManager.default.moveItem(atPath: "\(clips)/\(name)", toPath: "\(clips)/\(name.dropLast(8))")
        }
        let snapshots = "\(directory)/snapshots"
        for name in try FileManager.default.contentsOfDirectory(atPath: snapshots) where name.hasSuffix(".partial") {
            try FileManager.default.removeItem(atPath: "\(snapshots)/\(name)")
        }
    }

    public func snapshotPath(_ id: EventID) -> String { "\(directory)/snapshots/\(id).jpg" }
    public func clipPath(_ id: EventID) -> String { "\(directory)/clips/\(id).mkv" }

    /// A sealer for an item of event `id`, or nil while the owner has never had a key. The media id
    /// in the seal is the one the upload uses (`<event id>-snapshot`, `<event id>-clip`).
    public func sealer(for id: EventID, kind: MediaItem.Kind) throws(SealError) -> MediaSealer? {
        guard let keys = recipients() else { return nil }
        return try MediaSealer(media: "\(id)-\(kind.rawValue)", kind: kind.rawValue, recipients: keys)
    }

    /// Writes a snapshot durably, sealed when there are owner keys.
    public func writeSnapshot(_ jpeg: [UInt8], for id: EventID) throws {
        var bytes = jpeg
        if let keys = recipients() {
            bytes = try MediaSealer.seal(jpeg, media: "\(id)-snapshot", kind: "snapshot", for: keys)
        }
        let path = snapshotPath(id)
        let temporary = path + ".partial"
        let descriptor = try FileDescriptor.open(
            FilePath(temporary), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
        try descriptor.closeAfter {
            _ = try bytes.withUnsafeBytes { try descriptor.writeAll($0) }
            guard fsync(descriptor.rawValue) == 0 else { throw Errno(rawValue: errno) }
        }
        guard rename(temporary, path) == 0 else { throw Errno(rawValue: errno) }
        try trim()
    }

    /// Finished media, oldest event first (event ids sort by time).
    public func waiting() throws -> [MediaItem] {
        var items: [MediaItem] = []
        for (kind, folder, suffix) in [
            (MediaItem.Kind.snapshot, "snapshots", ".jpg"), (MediaItem.Kind.clip, "clips", ".mkv"),
        ] {
            for name in try FileManager.default.contentsOfDirectory(atPath: "\(directory)/\(folder)")
            where name.hasSuffix(suffix) {
                let path = "\(directory)/\(folder)/\(name)"
                // A file deleted since the listing (uploaded or evicted) is simply not waiting.
                guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { continue }
                items.append(
                    MediaItem(
                        eventID: EventID(rawValue: String(name.dropLast(suffix.count))), kind: kind, path: path,
                        size: (attributes[.size] as? NSNumber)?.intValue ?? 0))
            }
        }
        return items.sorted { ($0.eventID, $0.kind.rawValue) < ($1.eventID, $1.kind.rawValue) }
    }

    /// The sync module holds the item: the doorbell lets go of it.
    public func uploaded(_ item: MediaItem) throws {
        if unlink(item.path) != 0 && errno != ENOENT { throw Errno(rawValue: errno) }
    }

    /// Keeps a refused item under `<name>.rejected`, for inspection, out of the queue.
    public func reject(_ item: MediaItem) throws {
        if rename(item.path, item.path + ".rejected") != 0 && errno != ENOENT { throw Errno(rawValue: errno) }
    }

    /// Deletes media past its age, then the oldest until the store is within its bound, reporting
    /// each. `now` is Unix milliseconds (event ids carry their time).
    public func trim(now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) throws {
        var items = try waiting()
        if let maxAge {
            let cutoff = now - Int64(maxAge / .milliseconds(1))
            for item in items where (item.eventID.epochMilliseconds ?? now) < cutoff {
                if try delete(item) { evicted(item, .expired) }
            }
            items.removeAll { ($0.eventID.epochMilliseconds ?? now) < cutoff }
        }
        var total = items.reduce(0) { $0 + $1.size }
        for item in items where total > maxBytes {
            guard try delete(item) else { continue }  // uploaded meanwhile
            total -= item.size
            evicted(item, .full)
        }
    }

    private func delete(_ item: MediaItem) throws -> Bool {
        if unlink(item.path) == 0 { return true }
        if errno == ENOENT { return false }
        throw Errno(rawValue: errno)
    }
}

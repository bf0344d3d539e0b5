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
///
/// No picture leaves unsealed. While no recovery key is pinned (`recipients` is nil) media is
/// held here in the clear under `<name>.held`, within the same bound, and is not waiting: the
/// uplink never sees it. Once there are keys, `waiting` seals what was held, oldest first.
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
    /// The owner's current public keys, which media is sealed for as it is written; nil while no
    /// recovery key is pinned (media is then held here, unsent). An empty list after keys existed
    /// (all revoked, or a sync module trying to switch sealing off) means nothing can be sealed,
    /// and nothing is stored: never a fall back to plaintext.
    let recipients: @Sendable () -> [OwnerPublicKey]?
    /// What a notification thumbnail is sealed for: the owner keys and the browsers' notification
    /// keys (docs/notifications.md); nil and empty as for `recipients`.
    let thumbnailRecipients: @Sendable () -> [OwnerPublicKey]?
    let evicted: @Sendable (MediaItem, Eviction) -> Void

    public init(
        directory: String, maxBytes: Int, maxAge: Duration? = nil,
        recipients: @escaping @Sendable () -> [OwnerPublicKey]? = { nil },
        thumbnailRecipients: (@Sendable () -> [OwnerPublicKey]?)? = nil,
        evicted: @escaping @Sendable (MediaItem, Eviction) -> Void = { _, _ in }
    ) throws {
        self.directory = directory
        self.maxBytes = maxBytes
        self.maxAge = maxAge
        self.recipients = recipients
        self.thumbnailRecipients = thumbnailRecipients ?? recipients
        self.evicted = evicted
        for sub in ["snapshots", "clips", "thumbnails"] {
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
        for folder in ["\(directory)/snapshots", "\(directory)/thumbnails"] {
            for name in try FileManager.default.contentsOfDirectory(atPath: folder) where name.hasSuffix(".partial") {
                try FileManager.default.removeItem(atPath: "\(folder)/\(name)")
            }
        }
    }

    /// What a held (unsealed) item's name ends with.
    public static let heldSuffix = ".held"

    public func snapshotPath(_ id: EventID, sealed: Bool = true) -> String {
        "\(directory)/snapshots/\(id).jpg" + (sealed ? "" : Self.heldSuffix)
    }
    public func thumbnailPath(_ id: EventID, sealed: Bool = true) -> String {
        "\(directory)/thumbnails/\(id).jpg" + (sealed ? "" : Self.heldSuffix)
    }
    public func clipPath(_ id: EventID, sealed: Bool = true) -> String {
        "\(directory)/clips/\(id).mkv" + (sealed ? "" : Self.heldSuffix)
    }

    /// A sealer for an item of event `id`, or nil while no recovery key is pinned (it is held). The media id
    /// in the seal is the one the upload uses (`<event id>-snapshot`, `<event id>-clip`).
    public func sealer(for id: EventID, kind: MediaItem.Kind) throws(SealError) -> MediaSealer? {
        guard let keys = recipients() else { return nil }
        return try MediaSealer(media: "\(id)-\(kind.rawValue)", kind: kind.rawValue, recipients: keys)
    }

    /// Writes a snapshot durably: sealed when there are owner keys, held when none is pinned yet.
    public func writeSnapshot(_ jpeg: [UInt8], for id: EventID) throws {
        let keys = recipients()
        var bytes = jpeg
        if let keys { bytes = try MediaSealer.seal(jpeg, media: "\(id)-snapshot", kind: "snapshot", for: keys) }
        try Self.writeDurably(snapshotPath(id, sealed: keys != nil)) { write in try write(bytes) }
        try trim()
    }

    /// Writes a notification thumbnail durably, before the snapshot (the uplink sends it first):
    /// sealed for the owner keys and the notification keys, held when no key is pinned yet.
    public func writeThumbnail(_ jpeg: [UInt8], for id: EventID) throws {
        let keys = thumbnailRecipients()
        var bytes = jpeg
        if let keys { bytes = try MediaSealer.seal(jpeg, media: "\(id)-thumbnail", kind: "thumbnail", for: keys) }
        try Self.writeDurably(thumbnailPath(id, sealed: keys != nil)) { write in try write(bytes) }
        try trim()
    }

    /// Writes a file under a temporary name, fsyncs it and renames it to `path`.
    static func writeDurably(_ path: String, _ body: (_ write: ([UInt8]) throws -> Void) throws -> Void) throws {
        let temporary = path + ".partial"
        let descriptor = try FileDescriptor.open(
            FilePath(temporary), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
        try descriptor.closeAfter {
            try body { bytes in _ = try bytes.withUnsafeBytes { try descriptor.writeAll($0) } }
            guard fsync(descriptor.rawValue) == 0 else { throw Errno(rawValue: errno) }
        }
        guard rename(temporary, path) == 0 else { throw Errno(rawValue: errno) }
    }

    /// Sealed media ready for the uplink: every thumbnail first (a notification may be waiting
    /// for one), then oldest event first (event ids sort by time). When keys have come since media
    /// was held, the held media is sealed first.
    public func waiting() throws -> [MediaItem] {
        let thumbnailsFirst = { (items: [MediaItem]) in
            items.filter { $0.kind == .thumbnail } + items.filter { $0.kind != .thumbnail }
        }
        let all = try stored()
        if all.contains(where: \.isHeld), let keys = recipients(), !keys.isEmpty {
            let held = all.filter(\.isHeld)
            try sealHeld(held.filter { $0.kind != .thumbnail }, for: keys)
            try sealHeld(held.filter { $0.kind == .thumbnail }, for: thumbnailRecipients() ?? keys)
            return thumbnailsFirst(try stored().filter { !$0.isHeld })
        }
        return thumbnailsFirst(all.filter { !$0.isHeld })
    }

    /// Media held while no recovery key was pinned, sealed now: each to a temporary file in 64 KiB
    /// steps (a clip is never read whole), fsynced and renamed to its sealed name; then the
    /// plaintext goes.
    func sealHeld(_ held: [MediaItem], for keys: [OwnerPublicKey]) throws {
        for item in held {
            guard let input = FileHandle(forReadingAtPath: item.path) else { continue }  // evicted meanwhile
            defer { try? input.close() }
            var sealer = try MediaSealer(media: item.id, kind: item.kind.rawValue, recipients: keys)
            try Self.writeDurably(String(item.path.dropLast(Self.heldSuffix.count))) { write in
                try write(sealer.header)
                while let bytes = try input.read(upToCount: 64 << 10), !bytes.isEmpty {
                    try write(sealer.seal(bytes))
                }
                try write(sealer.finish())
            }
            if unlink(item.path) != 0 && errno != ENOENT { throw Errno(rawValue: errno) }
        }
    }

    /// Every finished item, sealed and held, oldest event first.
    func stored() throws -> [MediaItem] {
        var items: [MediaItem] = []
        for (kind, folder, sealedSuffix) in [
            (MediaItem.Kind.snapshot, "snapshots", ".jpg"), (MediaItem.Kind.clip, "clips", ".mkv"),
            (MediaItem.Kind.thumbnail, "thumbnails", ".jpg"),
        ] {
            for name in try FileManager.default.contentsOfDirectory(atPath: "\(directory)/\(folder)") {
                let suffix = name.hasSuffix(Self.heldSuffix) ? sealedSuffix + Self.heldSuffix : sealedSuffix
                guard name.hasSuffix(suffix) else { continue }
                let path = "\(directory)/\(folder)/\(name)"
                // A file deleted since the listing (uploaded or evicted) is simply not waiting.
                guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { continue }
                items.append(
                    MediaItem(
                        eventID: EventID(rawValue: String(name.dropLast(suffix.count))), kind: kind, path: path,
                        size: (attributes[.size] as? NSNumber)?.intValue ?? 0))
            }
        }
        return items.sorted { ($0.eventID, $0.kind.uploadOrder) < ($1.eventID, $1.kind.uploadOrder) }
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
        var items = try stored()
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

extension MediaItem {
    /// Held unsealed while no recovery key is pinned (``MediaStore``).
    var isHeld: Bool { path.hasSuffix(MediaStore.heldSuffix) }
}

import DoorbellCore
import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Snapshots and clips on local storage, waiting for the uplink to take them. Bounded: when the
/// store grows past its limit the oldest media go first (events themselves are never dropped
/// here). Files are written under a temporary name, fsynced and renamed, so a file with its final
/// name is complete.
public struct MediaStore: Sendable {
    public let directory: String
    public let maxBytes: Int

    public init(directory: String, maxBytes: Int) throws {
        self.directory = directory
        self.maxBytes = maxBytes
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

    /// Writes a snapshot durably.
    public func writeSnapshot(_ jpeg: [UInt8], for id: EventID) throws {
        let path = snapshotPath(id)
        let temporary = path + ".partial"
        let descriptor = try FileDescriptor.open(
            FilePath(temporary), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
        try descriptor.closeAfter {
            _ = try jpeg.withUnsafeBytes { try descriptor.writeAll($0) }
            guard fsync(descriptor.rawValue) == 0 else { throw Errno(rawValue: errno) }
        }
        guard rename(temporary, path) == 0 else { throw Errno(rawValue: errno) }
        try trim()
    }

    /// Deletes the oldest media until the store is within its bound.
    public func trim() throws {
        var files: [(path: String, modified: Date, size: Int)] = []
        for sub in ["snapshots", "clips"] {
            let folder = "\(directory)/\(sub)"
            for name in try FileManager.default.contentsOfDirectory(atPath: folder) where !name.hasSuffix(".partial") {
                let attributes = try FileManager.default.attributesOfItem(atPath: "\(folder)/\(name)")
                files.append(
                    (
                        "\(folder)/\(name)", attributes[.modificationDate] as? Date ?? .distantPast,
                        (attributes[.size] as? NSNumber)?.intValue ?? 0
                    ))
            }
        }
        var total = files.reduce(0) { $0 + $1.size }
        for file in files.sorted(by: { $0.modified < $1.modified }) where total > maxBytes {
            try FileManager.default.removeItem(atPath: file.path)
            total -= file.size
        }
    }
}

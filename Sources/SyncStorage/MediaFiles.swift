import Foundation
import SyncProtocol
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The sync module's media files: `media/<device>/<mediaID>.part` while an upload arrives, renamed
/// to `<mediaID>.jpg` or `.mkv` once its hash matches. The file's length is how much has arrived:
/// each chunk is appended and fsynced before it is acknowledged, so a restart resumes where the
/// disk says, and a torn write is caught by the final hash check. Bounded by `maxBytes`.
public final class MediaFiles: Sendable {
    public let directory: String
    /// The most the media may use (0: until the disk is full).
    public let maxBytes: Int
    private let used: Mutex<Int>
    /// Uploads with a chunk being written, so that a retried request cannot interleave with it.
    private let busy = Mutex<Set<String>>([])

    public init(directory: String, maxBytes: Int) throws {
        self.directory = directory
        self.maxBytes = maxBytes
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var total = 0
        if let walker = FileManager.default.enumerator(atPath: directory) {
            while walker.nextObject() != nil {
                guard walker.fileAttributes?[.type] as? FileAttributeType == .typeRegular else { continue }
                total += (walker.fileAttributes?[.size] as? NSNumber)?.intValue ?? 0
            }
        }
        used = Mutex(total)
    }

    public var usedBytes: Int { used.withLock { $0 } }

    func folder(_ deviceID: String) -> String { "\(directory)/\(deviceID)" }
    func partialPath(_ deviceID: String, _ mediaID: String) -> String { "\(folder(deviceID))/\(mediaID).part" }

    /// Where a complete item lives.
    public func path(_ record: MediaRecord) -> String {
        "\(folder(record.deviceID))/\(record.mediaID)\(record.kind.fileExtension)"
    }

    /// When a chunk of an incomplete upload was last written (Unix milliseconds; 0 for none).
    func lastWrite(_ deviceID: String, _ mediaID: String) -> Int64 {
        var status = stat()
        guard stat(partialPath(deviceID, mediaID), &status) == 0 else { return 0 }
        return Int64(status.st_mtim.tv_sec) * 1000 + Int64(status.st_mtim.tv_nsec) / 1_000_000
    }

    /// How many bytes of an incomplete upload are on disk.
    public func received(_ deviceID: String, _ mediaID: String) -> Int {
        var status = stat()
        return stat(partialPath(deviceID, mediaID), &status) == 0 ? Int(status.st_size) : 0
    }

    public enum AppendError: Error {
        case busy
        case offset(received: Int)
        case full(String)
        case io(String)
    }

    /// Appends a chunk at `offset`, which must be where the file ends; returns the new length.
    public func append(_ chunk: Data, at offset: Int, deviceID: String, mediaID: String) throws(AppendError) -> Int {
        let key = "\(deviceID)/\(mediaID)"
        guard busy.withLock({ $0.insert(key).inserted }) else { throw .busy }
        defer { _ = busy.withLock { $0.remove(key) } }
        if maxBytes > 0 && usedBytes + chunk.count > maxBytes {
            throw .full("the sync module's media limit (storage.media_max_mb = \(maxBytes >> 20)) is reached")
        }
        do {
            try FileManager.default.createDirectory(
                atPath: folder(deviceID), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .io("\(error)")
        }
        let descriptor: FileDescriptor
        do {
            descriptor = try FileDescriptor.open(
                FilePath(partialPath(deviceID, mediaID)), .writeOnly, options: [.create, .append],
                permissions: [.ownerReadWrite])
        } catch {
            throw Self.failure(error)
        }
        defer { try? descriptor.close() }
        var status = stat()
        guard fstat(descriptor.rawValue, &status) == 0 else { throw .io(String(cString: strerror(errno))) }
        guard Int(status.st_size) == offset else { throw .offset(received: Int(status.st_size)) }
        do {
            _ = try chunk.withUnsafeBytes { try descriptor.writeAll($0) }
            guard fsync(descriptor.rawValue) == 0 else { throw Errno(rawValue: errno) }
        } catch {
            // Leave the file as it was acknowledged, so the next attempt appends at the same place.
            _ = ftruncate(descriptor.rawValue, off_t(offset))
            throw Self.failure(error)
        }
        used.withLock { $0 += chunk.count }
        return offset + chunk.count
    }

    static func failure(_ error: any Error) -> AppendError {
        if let errno = error as? Errno, errno == .noSpace || errno == .diskQuotaExceeded || errno == .fileTooLarge {
            return .full("the sync module's disk is full")
        }
        return .io("\(error)")
    }

    /// Checks the whole file against the announced hash; if it matches, gives it its final name.
    /// A mismatch deletes the upload. Throws `AppendError.busy` while a chunk of it is being
    /// written or another request is finishing it, or once one has.
    public func finish(_ record: MediaRecord) throws -> Bool {
        let key = "\(record.deviceID)/\(record.mediaID)"
        guard busy.withLock({ $0.insert(key).inserted }) else { throw AppendError.busy }
        defer { _ = busy.withLock { $0.remove(key) } }
        let partial = partialPath(record.deviceID, record.mediaID)
        guard access(partial, F_OK) == 0 else { throw AppendError.busy }
        guard try sha256Hex(ofFile: partial) == record.sha256 else {
            discard(record.deviceID, record.mediaID)
            return false
        }
        guard rename(partial, path(record)) == 0 else { throw Errno(rawValue: errno) }
        let folder = try FileDescriptor.open(FilePath(folder(record.deviceID)), .readOnly)
        defer { try? folder.close() }
        _ = fsync(folder.rawValue)
        return true
    }

    /// Deletes a complete item so that a leftover copy (a block the flash translation layer kept,
    /// a backup of the disk) cannot be opened: the start of the file, where a sealed item keeps
    /// its wrapped keys (docs/privacy.md), is overwritten with zeros and synced before the file
    /// is unlinked. Returns the bytes freed.
    @discardableResult
    public func shred(_ record: MediaRecord) throws -> Int {
        let file = path(record)
        let descriptor: FileDescriptor
        do {
            descriptor = try FileDescriptor.open(FilePath(file), .writeOnly)
        } catch Errno.noSuchFileOrDirectory {
            return 0
        }
        var status = stat()
        _ = fstat(descriptor.rawValue, &status)
        let size = Int(status.st_size)
        do {
            defer { try? descriptor.close() }
            let zeros = [UInt8](repeating: 0, count: min(size, 64 << 10))
            _ = try zeros.withUnsafeBytes { try descriptor.writeAll(toAbsoluteOffset: 0, $0) }
            guard fdatasync(descriptor.rawValue) == 0 else { throw Errno(rawValue: errno) }
        }
        guard unlink(file) == 0 else { throw Errno(rawValue: errno) }
        used.withLock { $0 -= size }
        return size
    }

    func discard(_ deviceID: String, _ mediaID: String) {
        let size = received(deviceID, mediaID)
        if unlink(partialPath(deviceID, mediaID)) == 0 { used.withLock { $0 -= size } }
    }
}

extension MediaKind {
    /// The file's extension in the media folder and in downloads.
    public var fileExtension: String {
        switch self {
        case .snapshot, .thumbnail: ".jpg"
        case .clip: ".mkv"
        }
    }

    /// The type the owner's page is served the opened item as.
    public var contentType: String {
        switch self {
        case .snapshot, .thumbnail: "image/jpeg"
        case .clip: "video/x-matroska"
        }
    }
}

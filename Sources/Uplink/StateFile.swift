import Foundation

/// Durable writes of the doorbell's small state files (owner keys, access logs): owner-only,
/// fsynced before they count, and replaced by rename so a crash leaves the old or the new file.
enum StateFile {
    static func replace(_ path: String, with data: Data) throws {
        let temporary = path + ".new"
        try write(data, to: temporary, flags: O_TRUNC)
        guard rename(temporary, path) == 0 else { throw failure("rename into place", path) }
    }

    static func append(_ data: Data, to path: String) throws {
        try write(data, to: path, flags: O_APPEND)
    }

    private static func write(_ data: Data, to path: String, flags: Int32) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0o600)
        guard descriptor >= 0 else { throw failure("open", path) }
        defer { close(descriptor) }
        let written = data.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(descriptor) == 0 else { throw failure("write", path) }
    }

    static func failure(_ action: String, _ file: String) -> CocoaError {
        CocoaError(
            .fileWriteUnknown,
            userInfo: [
                NSFilePathErrorKey: file,
                NSLocalizedDescriptionKey: "cannot \(action) \(file): \(String(cString: strerror(errno)))",
            ])
    }
}

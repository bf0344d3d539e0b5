import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A directory under $TMPDIR (or /tmp) that is removed with its contents when released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init() throws {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/porchlight-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
        guard made else { throw RecorderError(call: "mkdtemp", errno: errno) }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Writes `text` to `name` inside the directory and returns the full path.
    @discardableResult
    public func write(_ name: String, _ text: String) throws -> String {
        let file = "\(path)/\(name)"
        guard let handle = fopen(file, "w") else { throw RecorderError(call: "fopen \(file)", errno: errno) }
        defer { fclose(handle) }
        guard fputs(text, handle) >= 0 else { throw RecorderError(call: "fputs \(file)", errno: errno) }
        return file
    }

    deinit {
        // Recursively, not following links: whatever a test left inside (a media store, a
        // database, sockets) goes, and nothing outside the directory.
        try? FileManager.default.removeItem(atPath: path)
    }
}

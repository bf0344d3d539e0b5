import Foundation
import Synchronization

/// The tests' push service: `Tests/WebPushTests/Scripts/push_endpoint.py` on a loopback port,
/// which decrypts each message with PyPI's http-ece and checks its VAPID token, independently of
/// the code under test. Each request it took is one `Request`.
public final class PushEndpoint: Sendable {
    /// One request as the endpoint saw it (the script's JSON line).
    public struct Request: Sendable {
        public let fields: [String: String]
        public let number: [String: Double]
        public let vapidOK: Bool
        public let audienceOK: Bool

        public subscript(_ key: String) -> String? { fields[key] }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    let process: Process
    public let port: Int
    /// When each request's line arrived here (after the script decrypted it), for the benchmark.
    public let arrivals: AsyncStream<ContinuousClock.Instant>
    private let arrived: AsyncStream<ContinuousClock.Instant>.Continuation
    private let seen: Mutex<[Request]>
    private let stderrPath: String

    /// `browserKey`: the browser's private P-256 scalar; `auth`: its 16-byte auth secret.
    public init(browserKey: Data, auth: Data) throws {
        let script = repositoryRoot + "/Tests/WebPushTests/Scripts/push_endpoint.py"
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, Self.hex(browserKey), Self.hex(auth)]
        let output = Pipe()
        process.standardOutput = output
        stderrPath = NSTemporaryDirectory() + "push-endpoint-\(UUID().uuidString).log"
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let lines = LineReader(output.fileHandleForReading)
        guard let first = lines.next(), let object = Self.object(first), let port = object["port"] as? Int else {
            let why = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            process.terminate()
            throw Failure(
                description: "the push endpoint did not start (pip install http-ece, .ci/install): \(why.suffix(500))")
        }
        self.port = port
        seen = Mutex([])
        (arrivals, arrived) = AsyncStream.makeStream(of: ContinuousClock.Instant.self)
        Thread.detachNewThread { [self] in
            while let line = lines.next() {
                guard let object = Self.object(line) else { continue }
                var fields: [String: String] = [:]
                var numbers: [String: Double] = [:]
                for (key, value) in object {
                    if let text = value as? String { fields[key] = text }
                    if let number = value as? NSNumber { numbers[key] = number.doubleValue }
                }
                let request = Request(
                    fields: fields, number: numbers, vapidOK: object["vapid_ok"] as? Bool == true,
                    audienceOK: object["aud_ok"] as? Bool == true)
                self.seen.withLock { $0.append(request) }
                self.arrived.yield(.now)
            }
        }
    }

    /// A URL on the endpoint whose last path component chooses its answer (see the script).
    public func url(_ name: String) -> String { "http://127.0.0.1:\(port)/push/\(name)" }

    public var requests: [Request] { seen.withLock { $0 } }

    /// Waits for `count` requests to `name`'s path, or fails.
    public func requests(to name: String, count: Int = 1, timeout: Duration = .seconds(30)) async throws -> [Request] {
        let path = "/push/\(name)"
        let found = await eventually(timeout: timeout) { requests.filter { $0["path"] == path }.count >= count }
        guard found else {
            throw Failure(description: "\(count) requests to \(path) did not arrive; saw \(requests.map(\.fields))")
        }
        return requests.filter { $0["path"] == path }
    }

    /// Ends the script, which has nothing to save: SIGKILL, since a test process may have left
    /// SIGTERM ignored for its children. (Foundation's `waitUntilExit` can wait forever on a
    /// task's thread, which runs no run loop, so the exit is polled.)
    public func stop() async {
        kill(process.processIdentifier, SIGKILL)
        _ = await eventually(timeout: .seconds(10)) { !process.isRunning }
        try? FileManager.default.removeItem(atPath: stderrPath)
    }

    static func hex(_ data: Data) -> String { data.map { String(format: "%02x", $0) }.joined() }

    static func object(_ line: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }
}

/// Lines from a helper script's pipe, read as they come (one reader thread at a time).
public final class LineReader: @unchecked Sendable {
    let handle: FileHandle
    var buffer = Data()

    public init(_ handle: FileHandle) { self.handle = handle }

    /// The next line, without its newline; nil at the end of the pipe.
    public func next() -> String? {
        while true {
            if let end = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<end], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...end)
                return line
            }
            let chunk = handle.availableData
            guard !chunk.isEmpty else { return nil }
            buffer += chunk
        }
    }
}

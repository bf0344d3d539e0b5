#if canImport(Glibc)
    import Glibc
#endif

/// A Unix datagram socket bound to a fresh path, recording what is sent to it: the stand-in for
/// systemd's notify socket and journald's socket in tests. Reads never block a thread; waiting
/// sleeps in short steps so that the code under test keeps the cooperative pool.
public final class DatagramRecorder: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let directory: TemporaryDirectory

    public init() throws {
        directory = try TemporaryDirectory()
        path = directory.path + "/notify.sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw RecorderError(call: "socket", errno: errno) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw RecorderError(call: "bind \(path)", errno: errno) }
        // Journal entries can be large; make room for several.
        var size: Int32 = 1 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// The next datagram, or `nil` if none arrives within `timeout`.
    public func next(timeout: Duration = .seconds(5)) async -> [UInt8]? {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 256 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count >= 0 { return Array(buffer[..<count]) }
            guard errno == EAGAIN || errno == EINTR, ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// The next sd_notify message as text.
    public func nextMessage(timeout: Duration = .seconds(5)) async -> String? {
        await next(timeout: timeout).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Waits for a message containing `assignment` (such as `READY=1`), returning every message
    /// seen on the way, the matching one last; `nil` on timeout.
    public func waitFor(_ assignment: String, timeout: Duration = .seconds(30)) async -> [String]? {
        let deadline = ContinuousClock.now + timeout
        var seen: [String] = []
        while ContinuousClock.now < deadline {
            guard let message = await nextMessage(timeout: deadline - ContinuousClock.now) else { return nil }
            seen.append(message)
            if message.split(separator: "\n").contains(Substring(assignment)) { return seen }
        }
        return nil
    }

    /// How many datagrams equal to `message` arrive in about `duration`, and the time actually
    /// spent: on a loaded machine the wait can overrun, and a cadence must be judged against the
    /// time that really passed.
    public func count(_ message: String, over duration: Duration) async -> (count: Int, elapsed: Duration) {
        // What queued up before now was sent before the window.
        while await next(timeout: .zero) != nil {}
        let start = ContinuousClock.now
        let messages = await drain(for: duration)
        return (messages.filter { $0 == message }.count, ContinuousClock.now - start)
    }

    /// The messages already queued, without waiting: a datagram sent to a Unix socket is queued
    /// before the sending call returns, so this is everything sent so far.
    public func queued() async -> [String] {
        var seen: [String] = []
        while let message = await nextMessage(timeout: .zero) { seen.append(message) }
        return seen
    }

    /// Every datagram that arrives within `duration`.
    public func drain(for duration: Duration) async -> [String] {
        let deadline = ContinuousClock.now + duration
        var seen: [String] = []
        while case let remaining = deadline - ContinuousClock.now, remaining > .zero {
            guard let message = await nextMessage(timeout: remaining) else { break }
            seen.append(message)
        }
        return seen
    }
}

public struct RecorderError: Error, CustomStringConvertible {
    public var call: String
    public var errno: Int32
    public var description: String { "\(call): \(String(cString: strerror(errno)))" }
}

import Foundation
import Logging
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// A failed socket call on the control socket, naming the action, the path and the cause.
public struct ControlError: Error, Sendable, CustomStringConvertible {
    public var action: String
    public var path: String
    public var errno: Int32
    public var hint: String?

    public var description: String {
        "cannot \(action) \(path): \(String(cString: strerror(errno)))" + (hint.map { " (\($0))" } ?? "")
    }
}

/// The daemon's local control socket: a Unix stream socket in the runtime directory, mode 0600,
/// one command line per connection and one reply line back (`ok ...` or `error ...`). It is how
/// `porchlightctl ring` and `porchlightctl dnd` reach the running daemon without any network port.
/// Connections are served one at a time on a dedicated thread; commands must be quick.
public struct ControlServer: Service {
    let path: String
    let logger: Logger
    let handler: @Sendable (String) -> String

    /// Commands and replies are short; a longer line is refused.
    static let maximumLine = 1024

    public init(path: String, logger: Logger, handler: @escaping @Sendable (String) -> String) {
        self.path = path
        self.logger = logger
        self.handler = handler
    }

    public func run() async throws {
        let listener = try Self.listen(at: path)
        logger.info("Control socket open.", metadata: ["file": "\(path)"])
        let thread = Thread { [path, logger, handler] in
            Self.serve(listener, path: path, logger: logger, handler: handler)
            close(listener)
        }
        thread.name = "control-socket"
        thread.start()
        try? await gracefulShutdown()
        // Shutting a listening socket down wakes a blocked accept() on Linux.
        shutdown(listener, Int32(SHUT_RDWR))
        unlink(path)
    }

    /// Binds and listens, replacing a stale socket file but never a live daemon's.
    static func listen(at path: String) throws(ControlError) -> Int32 {
        if (try? ControlClient.send("status", to: path, timeout: .seconds(1))) != nil {
            throw ControlError(
                action: "listen on", path: path, errno: EADDRINUSE, hint: "is porchlightd already running?")
        }
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlError(action: "create a socket for", path: path, errno: errno) }
        var address = try unixAddress(path)
        let previousMask = umask(0o177)  // the socket file is created 0600
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        let bindError = errno
        umask(previousMask)
        guard bound == 0 else {
            close(fd)
            throw ControlError(action: "bind", path: path, errno: bindError, hint: "does the runtime directory exist?")
        }
        guard Glibc.listen(fd, 8) == 0 else {
            let code = errno
            close(fd)
            throw ControlError(action: "listen on", path: path, errno: code)
        }
        return fd
    }

    private static func serve(
        _ listener: Int32, path: String, logger: Logger, handler: @Sendable (String) -> String
    ) {
        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                switch errno {
                case EINTR, ECONNABORTED: continue
                case EINVAL, EBADF: return  // shut down
                default:
                    // Out of descriptors or memory: wait rather than spin.
                    logger.warning("Cannot accept on the control socket.", metadata: ["error": "\(errno)"])
                    usleep(200_000)
                    continue
                }
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            // The timeouts are what keep one slow client from holding the socket: without them,
            // the connection is not served.
            guard setTimeouts(connection, seconds: 2) else {
                logger.warning("Cannot set timeouts on a control connection; closed.", metadata: ["error": "\(errno)"])
                close(connection)
                continue
            }
            let reply: String
            if let line = readLine(connection) {
                reply = handler(line)
            } else {
                reply = "error: expected one command line of at most \(maximumLine) bytes"
            }
            writeAll(connection, reply + "\n")
            close(connection)
        }
    }
}

/// The client side, for porchlightctl.
public enum ControlClient {
    /// Sends one command and returns the reply line.
    public static func send(_ command: String, to path: String, timeout: Duration = .seconds(5)) throws(ControlError)
        -> String
    {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlError(action: "create a socket for", path: path, errno: errno) }
        defer { close(fd) }
        guard setTimeouts(fd, seconds: Int(timeout.components.seconds)) else {
            throw ControlError(action: "set timeouts on a socket for", path: path, errno: errno)
        }
        var address = try unixAddress(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let code = errno
            throw ControlError(
                action: "connect to", path: path, errno: code,
                hint: code == ENOENT || code == ECONNREFUSED ? "is porchlightd running?" : nil)
        }
        writeAll(fd, command + "\n")
        shutdown(fd, Int32(SHUT_WR))
        guard let reply = readLine(fd) else {
            throw ControlError(action: "read the reply from", path: path, errno: errno == 0 ? EPROTO : errno)
        }
        return reply
    }
}

func unixAddress(_ path: String) throws(ControlError) -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
        throw ControlError(action: "use", path: path, errno: ENAMETOOLONG)
    }
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
    return address
}

/// Reads up to a newline or end of stream; nil on error, timeout or an over-long line.
func readLine(_ fd: Int32) -> String? {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 256)
    while bytes.count <= ControlServer.maximumLine {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if count == 0 { break }
        bytes += chunk[..<count]
        if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
            bytes = Array(bytes[..<newline])
            break
        }
    }
    guard bytes.count <= ControlServer.maximumLine else { return nil }
    return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
}

func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            return
        }
        bytes = bytes.dropFirst(written)
    }
}

/// Send and receive timeouts on a socket; false (errno set) when either cannot be set.
func setTimeouts(_ fd: Int32, seconds: Int) -> Bool {
    var limit = timeval(tv_sec: seconds, tv_usec: 0)
    let size = socklen_t(MemoryLayout<timeval>.size)
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, size) == 0
        && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, size) == 0
}

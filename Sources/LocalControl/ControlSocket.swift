import DoorbellCore
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
        let fd = try unixSocket(path)
        var address = try unixAddress(path)
        let previousMask = umask(0o177)  // the socket file is created 0600
        let bound = valueOrErrno {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        umask(previousMask)
        if case .failure(let failure) = bound {
            close(fd)
            throw ControlError(
                action: "bind", path: path, errno: failure.code, hint: "does the runtime directory exist?")
        }
        if case .failure(let failure) = valueOrErrno({ Glibc.listen(fd, 8) }) {
            close(fd)
            throw ControlError(action: "listen on", path: path, errno: failure.code)
        }
        return fd
    }

    private static func serve(
        _ listener: Int32, path: String, logger: Logger, handler: @Sendable (String) -> String
    ) {
        while true {
            let connection: Int32
            switch valueOrErrno({ accept(listener, nil, nil) }) {
            case .success(let accepted): connection = accepted
            case .failure(let failure) where failure.code == ECONNABORTED: continue
            case .failure(let failure) where failure.code == EINVAL || failure.code == EBADF: return  // shut down
            case .failure(let failure):
                // Out of descriptors or memory: wait rather than spin.
                logger.warning("Cannot accept on the control socket.", metadata: ["error": "\(failure)"])
                usleep(200_000)
                continue
            }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            // The timeouts are what keep one slow client from holding the socket: without them,
            // the connection is not served.
            if case .failure(let failure) = setTimeouts(connection, seconds: 2) {
                logger.warning(
                    "Cannot set timeouts on a control connection; closed.", metadata: ["error": "\(failure)"])
                close(connection)
                continue
            }
            let reply: String
            if case .success(let line) = readLine(connection) {
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
        let fd = try unixSocket(path)
        defer { close(fd) }
        if case .failure(let failure) = setTimeouts(fd, seconds: Int(timeout.components.seconds)) {
            throw ControlError(action: "set timeouts on a socket for", path: path, errno: failure.code)
        }
        var address = try unixAddress(path)
        let connected = valueOrErrno {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        if case .failure(let failure) = connected {
            throw ControlError(
                action: "connect to", path: path, errno: failure.code,
                hint: failure.code == ENOENT || failure.code == ECONNREFUSED ? "is porchlightd running?" : nil)
        }
        writeAll(fd, command + "\n")
        shutdown(fd, Int32(SHUT_WR))
        switch readLine(fd) {
        case .success(let reply): return reply
        case .failure(let failure): throw ControlError(action: "read the reply from", path: path, errno: failure.code)
        }
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

/// A stream socket for the control socket at `path` (named in the error).
func unixSocket(_ path: String) throws(ControlError) -> Int32 {
    switch valueOrErrno({ socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }) {
    case .success(let fd): return fd
    case .failure(let failure): throw ControlError(action: "create a socket for", path: path, errno: failure.code)
    }
}

/// Reads up to a newline or end of stream. Fails on an error or timeout (its errno) and on a line
/// over the limit (EMSGSIZE).
func readLine(_ fd: Int32) -> Result<String, ErrorNumber> {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 256)
    while bytes.count <= ControlServer.maximumLine {
        let count: Int
        switch valueOrErrno({ chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }) {
        case .success(let value): count = value
        case .failure(let failure): return .failure(failure)
        }
        if count == 0 { break }
        bytes += chunk[..<count]
        if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
            bytes = Array(bytes[..<newline])
            break
        }
    }
    guard bytes.count <= ControlServer.maximumLine else { return .failure(ErrorNumber(EMSGSIZE)) }
    return .success(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces))
}

func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        guard
            case .success(let written) = valueOrErrno({ bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } })
        else { return }
        bytes = bytes.dropFirst(written)
    }
}

/// Send and receive timeouts on a socket.
func setTimeouts(_ fd: Int32, seconds: Int) -> Result<Void, ErrorNumber> {
    var limit = timeval(tv_sec: seconds, tv_usec: 0)
    let size = socklen_t(MemoryLayout<timeval>.size)
    return valueOrErrno { setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, size) }
        .flatMap { _ in valueOrErrno { setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, size) } }
        .map { _ in () }
}

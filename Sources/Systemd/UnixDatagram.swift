#if canImport(Glibc)
    import Glibc
#endif
import SystemPackage

/// A failed system call, with the action and the object it was about.
public struct SystemCallError: Error, Sendable, CustomStringConvertible {
    public var action: String
    public var object: String
    public var errno: Errno

    public var description: String { "cannot \(action) \(object): \(errno)" }
}

/// Sends datagrams to a Unix socket by path: the transport of both sd_notify and journald's
/// native protocol. This file holds every socket call of the module.
final class UnixDatagramSender: Sendable {
    /// The socket path as systemd gives it; a leading `@` means the abstract namespace.
    let path: String
    private let fd: Int32

    /// Opens an unbound datagram socket for sending to `path`.
    /// The corresponding C function is `socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)`.
    init(path: String) throws(SystemCallError) {
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError(action: "create a socket for", object: path, errno: .current) }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Sends one datagram, retrying on EINTR.
    /// The corresponding C function is `sendto`.
    func send(_ bytes: [UInt8]) throws(SystemCallError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else {
            throw SystemCallError(action: "send to", object: path, errno: .fileNameTooLong)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        // Abstract addresses are length-delimited; path addresses end with their NUL.
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + pathBytes.count + (pathBytes[0] == 0 ? 0 : 1)
        while true {
            let sent = bytes.withUnsafeBytes { buffer in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), $0, socklen_t(length))
                    }
                }
            }
            if sent >= 0 { return }
            let error = Errno.current
            if error == .interrupted { continue }
            throw SystemCallError(action: "send to", object: path, errno: error)
        }
    }
}

extension Errno {
    static var current: Errno { Errno(rawValue: Glibc.errno) }
}

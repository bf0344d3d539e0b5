#if canImport(Glibc)
    import Glibc
#endif

/// An error number from the C library or the kernel, captured right after the call that set it.
public struct ErrorNumber: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: Int32

    public init(_ code: Int32) { self.code = code }

    public var description: String { String(cString: strerror(code)) }
}

/// One way to call the C library and the kernel, like swift-system's `valueOrErrno` (whose
/// `Errno` ``ErrorNumber`` is, without the dependency): runs `call` again while it fails with
/// EINTR, and on failure (a negative result) captures `errno` at once. Reading `errno` later,
/// after building an error message, can read whatever the message's own calls left there.
@inline(__always)
public func valueOrErrno<T: SignedInteger>(_ call: () -> T) -> Result<T, ErrorNumber> {
    while true {
        let result = call()
        if result >= 0 { return .success(result) }
        let code = errno
        if code != EINTR { return .failure(ErrorNumber(code)) }
    }
}

/// ``valueOrErrno(_:)`` for calls that return a pointer, NULL on failure.
@inline(__always)
public func pointerOrErrno<T>(_ call: () -> T?) -> Result<T, ErrorNumber> {
    while true {
        if let result = call() { return .success(result) }
        let code = errno
        if code != EINTR { return .failure(ErrorNumber(code)) }
    }
}

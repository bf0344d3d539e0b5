import Crypto
import Foundation
import Synchronization

/// The headers that authenticate a request from a doorbell (docs/protocol.md, "Authentication").
public enum SignedHeader {
    public static let device = "Porchlight-Device"
    public static let timestamp = "Porchlight-Timestamp"
    public static let nonce = "Porchlight-Nonce"
    public static let contentSHA256 = "Porchlight-Content-SHA256"
    public static let signature = "Porchlight-Signature"
}

/// What is signed: the method, the path (with its query), the time, a nonce and the body's hash,
/// one per line after a fixed prefix, so that no field can be moved into another.
public func canonicalRequest(method: String, path: String, timestamp: Int64, nonce: String, bodySHA256: String)
    -> Data
{
    Data("PORCHLIGHT-V1\n\(method.uppercased())\n\(path)\n\(timestamp)\n\(nonce)\n\(bodySHA256)".utf8)
}

/// Whether two secrets (a CSRF, session or share token) are equal, in a time that depends on
/// their lengths only, not on where they first differ, so that a network peer cannot find a token
/// byte by byte from answer times.
public func constantTimeEqual(_ a: some StringProtocol, _ b: some StringProtocol) -> Bool {
    let left = Array(a.utf8)
    let right = Array(b.utf8)
    guard left.count == right.count else { return false }
    var difference: UInt8 = 0
    for index in left.indices { difference |= left[index] ^ right[index] }
    return difference == 0
}

public func sha256Hex(_ data: Data) -> String {
    hexString(SHA256.hash(data: data))
}

/// Lowercase hex of `bytes`, by table: `String(format: "%02x")` costs about a microsecond a byte
/// on Linux, which dominated verifying an access log (two hashes an entry).
public func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var hex = [UInt8]()
    hex.reserveCapacity(64)
    for byte in bytes {
        hex.append(digits[Int(byte >> 4)])
        hex.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: hex, as: UTF8.self)
}

/// Hex SHA-256 of a file, read in 1 MiB pieces: the content hash of a media upload.
public func sha256Hex(ofFile path: String) throws -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
    }
    defer { try? handle.close() }
    var hasher = SHA256()
    while let piece = try handle.read(upToCount: 1 << 20), !piece.isEmpty { hasher.update(data: piece) }
    return hexString(hasher.finalize())
}

/// The device's identity: an Ed25519 key pair made at pairing. The device id is derived from the
/// public key, so it cannot be claimed without the key.
public struct DeviceIdentity: Sendable {
    /// The 32-byte Ed25519 private key, as stored (mode 0600) in the state directory.
    public let privateKeyBytes: Data

    public init(privateKeyBytes: Data = Curve25519.Signing.PrivateKey().rawRepresentation) throws {
        _ = try Curve25519.Signing.PrivateKey(rawRepresentation: privateKeyBytes)
        self.privateKeyBytes = privateKeyBytes
    }

    var privateKey: Curve25519.Signing.PrivateKey {
        // Validated in init.
        try! Curve25519.Signing.PrivateKey(rawRepresentation: privateKeyBytes)
    }

    public var publicKey: Data { privateKey.publicKey.rawRepresentation }
    public var deviceID: String { Self.deviceID(for: publicKey) }

    /// The first 16 bytes of SHA-256(public key), hex.
    public static func deviceID(for publicKey: Data) -> String {
        hexString(SHA256.hash(data: publicKey).prefix(16))
    }

    /// The device key's signature over `message`, for what the doorbell publishes (its talk key).
    public func signature(for message: Data) throws -> Data { try privateKey.signature(for: message) }

    /// Whether `signature` is the device key `publicKey`'s over `message`.
    public static func isValid(_ signature: Data, for message: Data, by publicKey: Data) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        return key.isValidSignature(signature, for: message)
    }

    /// The headers for one request. `now` is Unix milliseconds.
    public func sign(method: String, path: String, body: Data, now: Int64) throws -> [String: String] {
        var nonceBytes = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for index in nonceBytes.indices { nonceBytes[index] = generator.next() }
        let nonce = Data(nonceBytes).base64EncodedString()
        let bodyHash = sha256Hex(body)
        let signature = try privateKey.signature(
            for: canonicalRequest(method: method, path: path, timestamp: now, nonce: nonce, bodySHA256: bodyHash))
        return [
            SignedHeader.device: deviceID, SignedHeader.timestamp: "\(now)", SignedHeader.nonce: nonce,
            SignedHeader.contentSHA256: bodyHash, SignedHeader.signature: signature.base64EncodedString(),
        ]
    }
}

/// Why a request was refused; each maps to an HTTP status and a reason (docs/protocol.md).
public enum AuthenticationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    case missingHeader(String)
    /// Present but not of the header's form (`expected` says what it must be).
    case malformedHeader(String, expected: String)
    case unknownDevice
    case revokedDevice
    case clockSkew(milliseconds: Int64)
    case replayedNonce
    case bodyHashMismatch
    case badSignature

    /// 401 for everything but a revoked device (403), so a doorbell knows to stop trying.
    public var status: Int { self == .revokedDevice ? 403 : 401 }

    public var description: String {
        switch self {
        case .missingHeader(let name): "missing header \(name)"
        case .malformedHeader(let name, let expected): "header \(name) must be \(expected)"
        case .unknownDevice: "unknown device: pair it first"
        case .revokedDevice: "this device has been revoked by the owner"
        case .clockSkew(let skew): "timestamp off by \(skew) ms; check the doorbell's clock (NTP)"
        case .replayedNonce: "nonce already used: replayed request"
        case .bodyHashMismatch: "the body does not match Porchlight-Content-SHA256"
        case .badSignature: "signature does not verify"
        }
    }
}

/// Remembers nonces for the replay window. The sync module keeps them in its database so that a
/// restart does not reopen the window; this in-memory one is for tests and the daemon side.
public protocol NonceStore: Sendable {
    /// Records `nonce` for `deviceID`; false if it was already there.
    func insert(_ nonce: String, deviceID: String, at now: Int64) -> Bool
}

public final class MemoryNonceStore: NonceStore {
    private let seen = Mutex<[String: Int64]>([:])
    private let window: Int64

    public init(windowMilliseconds: Int64) {
        window = windowMilliseconds
    }

    public func insert(_ nonce: String, deviceID: String, at now: Int64) -> Bool {
        seen.withLock { seen in
            if seen.count > 10_000 { seen = seen.filter { now - $0.value <= 2 * window } }
            return seen.updateValue(now, forKey: "\(deviceID)/\(nonce)") == nil
        }
    }
}

/// The headers of a signed request, parsed and bounded, from a device that is paired and not
/// revoked, with a timestamp inside the window: everything that can be checked before the body is
/// read, so that a stranger's request costs no body read and no hash.
public struct SignedRequestHead: Sendable {
    public let device: String
    public let timestamp: Int64
    public let nonce: String
    public let bodySHA256: String
    let signature: Data
    let publicKey: Data
}

/// Checks a signed request: known and unrevoked device, timestamp within the window, a nonce not
/// seen in that window, the body's hash, and the signature over all of it. Every header is parsed
/// and bounded before it is used, so no value a peer sends can trap the arithmetic.
public struct RequestVerifier: Sendable {
    public enum DeviceState: Sendable {
        case active(publicKey: Data)
        case revoked
    }

    /// Requests older or newer than this are refused; nonces are remembered this long.
    public static let window: Int64 = 120_000
    /// Unix milliseconds a timestamp may take: 1970 to the end of 9999. Inside it, the difference
    /// to any clock reading in it cannot overflow.
    public static let timestamps: ClosedRange<Int64> = 0...253_402_300_799_999

    let lookup: @Sendable (String) -> DeviceState?
    let nonces: any NonceStore

    public init(nonces: any NonceStore, lookup: @escaping @Sendable (String) -> DeviceState?) {
        self.nonces = nonces
        self.lookup = lookup
    }

    /// The head of a request whose headers are well-formed, from a device that may send, in the
    /// time window; throws the reason otherwise. The body is checked by `verify(_:…)`.
    public func checkHead(headers: [String: String], now: Int64) throws(AuthenticationFailure) -> SignedRequestHead {
        func header(_ name: String) throws(AuthenticationFailure) -> String {
            guard let value = headers[name] ?? headers[name.lowercased()] else { throw .missingHeader(name) }
            return value
        }
        let device = try header(SignedHeader.device)
        let timestampText = try header(SignedHeader.timestamp)
        let nonce = try header(SignedHeader.nonce)
        let bodyHash = try header(SignedHeader.contentSHA256)
        let signatureText = try header(SignedHeader.signature)
        guard device.utf8.count == 32, device.utf8.allSatisfy(Self.isLowerHex) else {
            throw .malformedHeader(SignedHeader.device, expected: "a device id (32 lowercase hex digits)")
        }
        guard timestampText.utf8.count <= 16, timestampText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let timestamp = Int64(timestampText), Self.timestamps.contains(timestamp)
        else {
            throw .malformedHeader(SignedHeader.timestamp, expected: "Unix time in milliseconds (digits only)")
        }
        guard (16...64).contains(nonce.utf8.count), Data(base64Encoded: nonce) != nil else {
            throw .malformedHeader(SignedHeader.nonce, expected: "16 to 64 characters of base64")
        }
        guard bodyHash.utf8.count == 64, bodyHash.utf8.allSatisfy(Self.isLowerHex) else {
            throw .malformedHeader(SignedHeader.contentSHA256, expected: "the body's SHA-256 in lowercase hex")
        }
        guard signatureText.utf8.count <= 128, let signature = Data(base64Encoded: signatureText),
            signature.count == 64
        else {
            throw .malformedHeader(SignedHeader.signature, expected: "an Ed25519 signature (64 bytes, base64)")
        }
        guard let state = lookup(device) else { throw .unknownDevice }
        guard case .active(let publicKey) = state else { throw .revokedDevice }
        // Both in `timestamps` (a clock before 1970 or after 9999 is refused as skew), so the
        // difference cannot overflow.
        let clock = min(max(now, Self.timestamps.lowerBound), Self.timestamps.upperBound)
        let skew = clock - timestamp
        guard skew.magnitude <= UInt64(Self.window) else { throw .clockSkew(milliseconds: skew) }
        return SignedRequestHead(
            device: device, timestamp: timestamp, nonce: nonce, bodySHA256: bodyHash, signature: signature,
            publicKey: publicKey)
    }

    /// The device id of a request whose body and signature verify against its checked head.
    public func verify(_ head: SignedRequestHead, method: String, path: String, body: Data, now: Int64)
        throws(AuthenticationFailure) -> String
    {
        guard sha256Hex(body) == head.bodySHA256 else { throw .bodyHashMismatch }
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: head.publicKey),
            key.isValidSignature(
                head.signature,
                for: canonicalRequest(
                    method: method, path: path, timestamp: head.timestamp, nonce: head.nonce,
                    bodySHA256: head.bodySHA256))
        else { throw .badSignature }
        // Only a request that verifies uses up its nonce, so garbage cannot burn a real one.
        guard nonces.insert(head.nonce, deviceID: head.device, at: now) else { throw .replayedNonce }
        return head.device
    }

    /// The device id of a request that verifies; throws the reason otherwise.
    public func verify(method: String, path: String, headers: [String: String], body: Data, now: Int64)
        throws(AuthenticationFailure) -> String
    {
        try verify(checkHead(headers: headers, now: now), method: method, path: path, body: body, now: now)
    }

    static func isLowerHex(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) }
}

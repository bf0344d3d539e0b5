import Crypto
import Foundation
import SwiftASN1
import SyncProtocol
import X509

/// The sync module's TLS identity: a P-256 key and a self-signed certificate made on first start
/// and kept in its state directory (key mode 0600). Doorbells pin the certificate at pairing, by
/// its SHA-256 fingerprint, so no certificate authority is involved.
public struct ServerIdentity: Sendable {
    public let certificatePEM: String
    public let privateKeyPEM: String
    /// SHA-256 of the certificate's DER, as colon-separated hex: what `pair-code` shows the owner.
    public let fingerprint: String

    /// Loads `directory/server.crt` and `server.key`, or makes them when neither exists. One that
    /// exists but cannot be read or parsed is an error, never a reason to make a new identity:
    /// every paired doorbell pins this certificate, and a new one would cut them all off (or, if
    /// an attacker removed one file, teach the owner to accept a certificate change).
    public static func loadOrCreate(directory: String, hostnames: [String]) throws -> ServerIdentity {
        let certificatePath = directory + "/server.crt"
        let keyPath = directory + "/server.key"
        let manager = FileManager.default
        let missing = [certificatePath, keyPath].filter { !manager.fileExists(atPath: $0) }
        if missing.count < 2 {
            if let path = missing.first { throw ServerIdentityError.incomplete(missing: path) }
            do {
                return try ServerIdentity(
                    certificatePEM: try String(contentsOfFile: certificatePath, encoding: .utf8),
                    privateKeyPEM: try String(contentsOfFile: keyPath, encoding: .utf8))
            } catch {
                throw ServerIdentityError.unreadable(directory: directory, reason: "\(error)")
            }
        }
        let identity = try make(hostnames: hostnames)
        // O_EXCL: a file that appeared meanwhile is kept, not overwritten.
        try exclusiveWrite(identity.privateKeyPEM, to: keyPath, mode: 0o600)
        try exclusiveWrite(identity.certificatePEM, to: certificatePath, mode: 0o644)
        return identity
    }

    static func exclusiveWrite(_ text: String, to path: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    init(certificatePEM: String, privateKeyPEM: String) throws {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        let certificate = try Certificate(pemEncoded: certificatePEM)
        // The key must be the certificate's: a mismatch would fail only at the first handshake.
        let key = try Certificate.PrivateKey(pemEncoded: privateKeyPEM)
        guard key.publicKey == certificate.publicKey else { throw ServerIdentityError.mismatchedKey }
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        fingerprint = PairingExchange.fingerprint(ofDER: Data(serializer.serializedBytes))
    }

    /// A ten-year self-signed certificate for `hostnames` (and 127.0.0.1 / ::1).
    static func make(hostnames: [String]) throws -> ServerIdentity {
        let key = P256.Signing.PrivateKey()
        let privateKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName { CommonName("porchlight-sync") }
        let now = Date()
        var names: [GeneralName] = hostnames.map { .dnsName($0) }
        names.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])))
        names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice([UInt8](repeating: 0, count: 15) + [1]))))
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: privateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                // Its own trust anchor: TLS stacks accept a self-signed anchor only as a CA. It
                // signs nothing else (path length 0) and clients trust it alone, pinned.
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: privateKey)
        return try ServerIdentity(
            certificatePEM: try certificate.serializeAsPEM().pemString,
            privateKeyPEM: try privateKey.serializeAsPEM().pemString)
    }
}

/// Why the sync module will not start with the identity it has.
public enum ServerIdentityError: Error, Sendable, Equatable, CustomStringConvertible {
    case incomplete(missing: String)
    case unreadable(directory: String, reason: String)
    case mismatchedKey

    public var description: String {
        switch self {
        case .incomplete(let missing):
            "the TLS identity is incomplete: \(missing) is missing. Restore it from a backup; a new identity would "
                + "unpair every doorbell (to start afresh, remove server.crt and server.key and pair again)"
        case .unreadable(let directory, let reason):
            "cannot read the TLS identity in \(directory) (\(reason)). Restore server.crt and server.key from a "
                + "backup; a new identity would unpair every doorbell"
        case .mismatchedKey: "server.key is not the key of server.crt"
        }
    }
}

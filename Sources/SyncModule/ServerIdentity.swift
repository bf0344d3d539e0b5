import Crypto
import Foundation
import SwiftASN1
import X509

/// The sync module's TLS identity: a P-256 key and a self-signed certificate made on first start
/// and kept in its state directory (key mode 0600). Doorbells pin the certificate at pairing, by
/// its SHA-256 fingerprint, so no certificate authority is involved.
public struct ServerIdentity: Sendable {
    public let certificatePEM: String
    public let privateKeyPEM: String
    /// SHA-256 of the certificate's DER, as colon-separated hex: what `pair-code` shows the owner.
    public let fingerprint: String

    /// Loads `directory/server.crt` and `server.key`, or makes them.
    public static func loadOrCreate(directory: String, hostnames: [String]) throws -> ServerIdentity {
        let certificatePath = directory + "/server.crt"
        let keyPath = directory + "/server.key"
        if let certificate = try? String(contentsOfFile: certificatePath, encoding: .utf8),
            let key = try? String(contentsOfFile: keyPath, encoding: .utf8)
        {
            return try ServerIdentity(certificatePEM: certificate, privateKeyPEM: key)
        }
        let identity = try make(hostnames: hostnames)
        guard
            FileManager.default.createFile(
                atPath: keyPath, contents: Data(identity.privateKeyPEM.utf8), attributes: [.posixPermissions: 0o600]),
            FileManager.default.createFile(
                atPath: certificatePath, contents: Data(identity.certificatePEM.utf8),
                attributes: [.posixPermissions: 0o644])
        else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: directory]) }
        return identity
    }

    init(certificatePEM: String, privateKeyPEM: String) throws {
        self.certificatePEM = certificatePEM
        self.privateKeyPEM = privateKeyPEM
        let certificate = try Certificate(pemEncoded: certificatePEM)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        fingerprint = SHA256.hash(data: Data(serializer.serializedBytes)).map { String(format: "%02X", $0) }
            .joined(separator: ":")
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

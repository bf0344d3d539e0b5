import Crypto
import Foundation

/// A snapshot or clip sealed for the owner's keys before it leaves the doorbell (docs/privacy.md,
/// Sealed media). One random AES-128-GCM content key per item, wrapped for each owner key with HPKE
/// (RFC 9180: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode, the item's id in
/// `info`). The content is sealed in chunks, each authenticating the header, its index and whether
/// it is the last, so a partial upload opens up to its last whole chunk and says it is incomplete,
/// while an edited, reordered or spliced chunk is refused.
///
/// Layout: `PLS1`, the header's length (4 bytes, big-endian), the header (JSON), then chunks, each
/// a 4-byte big-endian length and AES-GCM ciphertext with its 16-byte tag; the nonce is the chunk
/// index (a key is never used for two items).
public enum SealedMedia {
    public static let magic = Array("PLS1".utf8)
    public static var suite: HPKE.Ciphersuite { .init(kem: .P256_HKDF_SHA256, kdf: .HKDF_SHA256, aead: .AES_GCM_128) }
    public static let defaultChunkSize = 64 << 10

    struct Header: Codable, Equatable {
        var v = 1
        var media: String
        var kind: String
        var chunk: Int
        var recipients: [Recipient]
    }

    struct Recipient: Codable, Equatable {
        var key: String
        var enc: String
        var wrapped: String
    }

    static func info(_ media: String) -> Data { Data("porchlight media v1 \(media)".utf8) }

    /// The associated data of chunk `index`: the header's hash, the index, and the last-chunk flag.
    static func associatedData(header: [UInt8], index: Int, last: Bool) -> Data {
        var data = Data(SHA256.hash(data: header))
        withUnsafeBytes(of: UInt64(index).bigEndian) { data.append(contentsOf: $0) }
        data.append(last ? 1 : 0)
        return data
    }

    static func nonce(_ index: Int) throws -> AES.GCM.Nonce {
        var bytes = [UInt8](repeating: 0, count: 4)
        withUnsafeBytes(of: UInt64(index).bigEndian) { bytes.append(contentsOf: $0) }
        return try AES.GCM.Nonce(data: bytes)
    }

    /// Whether `bytes` begin as a sealed item does: the magic, and a header length that fits. What
    /// the sync module checks so that it stores and relays no picture in the clear; it cannot open
    /// the item, so a forged header is the owner's page's to refuse.
    public static func beginsSealed(_ bytes: some Collection<UInt8>) -> Bool {
        guard bytes.count >= 8, bytes.prefix(4).elementsEqual(magic) else { return false }
        let length = bytes.dropFirst(4).prefix(4).reduce(0) { $0 << 8 | Int($1) }
        return (2...(1 << 20)).contains(length)
    }

    /// What opening an item gives: the plaintext, and whether it was whole.
    public struct Opened: Sendable {
        public var plaintext: [UInt8]
        /// False when the item ends before its last chunk (an upload still in progress, or cut).
        public var complete: Bool
    }

    /// The item's header and its content key, unwrapped with one of the owner's keys.
    static func unwrap(_ bytes: [UInt8], with owner: OwnerKey) throws(SealError) -> (
        header: Header, headerBytes: [UInt8], key: SymmetricKey
    ) {
        guard bytes.count >= 8, Array(bytes[0..<4]) == magic else { throw .malformed("no PLS1 header") }
        let headerLength = bytes[4..<8].reduce(0) { $0 << 8 | Int($1) }
        guard headerLength <= 1 << 20, 8 + headerLength <= bytes.count else { throw .malformed("truncated header") }
        let headerBytes = Array(bytes[8..<8 + headerLength])
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)), header.v == 1 else {
            throw .malformed("unreadable header")
        }
        let id = owner.publicKey.id
        guard let recipient = header.recipients.first(where: { $0.key == id }) else {
            throw .notForThisKey(recipients: header.recipients.map(\.key))
        }
        do {
            guard let enc = Data(base64Encoded: recipient.enc), let wrapped = Data(base64Encoded: recipient.wrapped)
            else { throw SealError.malformed("recipient fields are not base64") }
            var opener = try HPKE.Recipient(
                privateKey: owner.privateKey, ciphersuite: suite, info: info(header.media), encapsulatedKey: enc)
            return (header, headerBytes, SymmetricKey(data: try opener.open(wrapped, authenticating: Data(id.utf8))))
        } catch {
            throw .tampered(chunk: -1)
        }
    }

    /// Opens an item with one of the owner's keys.
    public static func open(_ bytes: [UInt8], with owner: OwnerKey) throws(SealError) -> Opened {
        let (header, headerBytes, key) = try unwrap(bytes, with: owner)
        let headerLength = headerBytes.count
        var plaintext: [UInt8] = []
        var cursor = 8 + headerLength
        var index = 0
        while cursor + 4 <= bytes.count {
            let length = bytes[cursor..<cursor + 4].reduce(0) { $0 << 8 | Int($1) }
            guard length >= 16, length <= header.chunk + 16 else { throw .tampered(chunk: index) }
            guard cursor + 4 + length <= bytes.count else { break }  // cut inside this chunk
            let body = bytes[(cursor + 4)..<(cursor + 4 + length)]
            // Try it as an inner chunk first, then as the last one.
            for last in [false, true] {
                let aad = associatedData(header: headerBytes, index: index, last: last)
                guard
                    let box = try? AES.GCM.SealedBox(
                        nonce: nonce(index), ciphertext: body.dropLast(16), tag: body.suffix(16)),
                    let opened = try? AES.GCM.open(box, using: key, authenticating: aad)
                else {
                    if last { throw .tampered(chunk: index) }
                    continue
                }
                plaintext += opened
                cursor += 4 + length
                index += 1
                if last {
                    guard cursor == bytes.count else { throw .tampered(chunk: index) }
                    return Opened(plaintext: plaintext, complete: true)
                }
                break
            }
        }
        return Opened(plaintext: plaintext, complete: false)
    }
}

/// Seals one item as it is produced: `header` first, then whatever `seal` returns as data comes,
/// then `finish`. Each output can be written or uploaded at once; nothing is rewritten.
public struct MediaSealer {
    public let header: [UInt8]
    private let headerJSON: [UInt8]
    let key: SymmetricKey
    private let chunkSize: Int
    private var pending: [UInt8] = []
    private var index = 0

    /// `recipients`: the owner's current public keys (revoked ones are not among them).
    public init(
        media: String, kind: String, recipients: [OwnerPublicKey], chunkSize: Int = SealedMedia.defaultChunkSize
    ) throws(SealError) {
        guard !recipients.isEmpty else { throw .noRecipients }
        key = SymmetricKey(size: .bits128)
        self.chunkSize = chunkSize
        let raw = key.withUnsafeBytes { Data($0) }
        var wrapped: [SealedMedia.Recipient] = []
        do {
            for recipient in recipients {
                var sender = try HPKE.Sender(
                    recipientKey: recipient.key, ciphersuite: SealedMedia.suite, info: SealedMedia.info(media))
                let sealed = try sender.seal(raw, authenticating: Data(recipient.id.utf8))
                wrapped.append(
                    .init(
                        key: recipient.id, enc: sender.encapsulatedKey.base64EncodedString(),
                        wrapped: sealed.base64EncodedString()))
            }
        } catch {
            throw .malformed("cannot wrap the content key: \(error)")
        }
        let json = SealedMedia.Header(media: media, kind: kind, chunk: chunkSize, recipients: wrapped)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        headerJSON = Array((try? encoder.encode(json)) ?? Data())
        let length = UInt32(headerJSON.count)
        header =
            SealedMedia.magic + [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: length >> $0) } + headerJSON
    }

    /// A whole item at once (a snapshot, a live frame): header, chunks and the last chunk.
    public static func seal(
        _ bytes: [UInt8], media: String, kind: String, for recipients: [OwnerPublicKey]
    ) throws(SealError) -> [UInt8] {
        var sealer = try MediaSealer(media: media, kind: kind, recipients: recipients)
        return sealer.header + sealer.seal(bytes) + sealer.finish()
    }

    /// Sealed whole chunks for `bytes` (possibly none yet).
    public mutating func seal(_ bytes: some Collection<UInt8>) -> [UInt8] {
        pending += bytes
        var out: [UInt8] = []
        // Keep at least one byte back, so that the last chunk is never an empty one unless the item is.
        while pending.count > chunkSize {
            out += chunk(Array(pending.prefix(chunkSize)), last: false)
            pending.removeFirst(chunkSize)
        }
        return out
    }

    /// Seals what is pending now as a chunk of its own (a clip does this at each cluster, so a
    /// power cut loses no more than the sealed file's last second).
    public mutating func flush() -> [UInt8] {
        guard !pending.isEmpty else { return [] }
        defer { pending = [] }
        return chunk(pending, last: false)
    }

    /// The last chunk.
    public mutating func finish() -> [UInt8] {
        defer { pending = [] }
        return chunk(pending, last: true)
    }

    private mutating func chunk(_ plaintext: [UInt8], last: Bool) -> [UInt8] {
        defer { index += 1 }
        let aad = SealedMedia.associatedData(header: headerJSON, index: index, last: last)
        // A 12-byte nonce and a fresh key cannot fail to seal.
        let box = try! AES.GCM.seal(plaintext, using: key, nonce: SealedMedia.nonce(index), authenticating: aad)
        let body = Array(box.ciphertext) + Array(box.tag)
        let length = UInt32(body.count)
        return [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: length >> $0) } + body
    }
}

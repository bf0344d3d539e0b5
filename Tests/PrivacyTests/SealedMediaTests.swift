import Crypto
import Foundation
import Testing

@testable import Privacy

@Suite(.timeLimit(.minutes(10))) struct SealedMediaTests {
    static func seal(
        _ plaintext: [UInt8], for keys: [OwnerPublicKey], media: String = "evt-1-clip", chunk: Int = 1000,
        pieces: Int = 7
    ) throws -> [UInt8] {
        var sealer = try MediaSealer(media: media, kind: "clip", recipients: keys, chunkSize: chunk)
        var out = sealer.header
        // Fed in uneven pieces, as a clip is written frame by frame.
        var rest = plaintext[...]
        while !rest.isEmpty {
            let take = min(rest.count, max(1, rest.count / pieces + 13))
            out += sealer.seal(rest.prefix(take))
            rest = rest.dropFirst(take)
        }
        return out + sealer.finish()
    }

    static func random(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

    @Test("every size round-trips, for each of the owner's keys")
    func roundTrip() throws {
        let phone = OwnerKey()
        let laptop = OwnerKey()
        for size in [0, 1, 999, 1000, 1001, 3500, 10_000] {
            let plaintext = Self.random(size)
            let sealed = try Self.seal(plaintext, for: [phone.publicKey, laptop.publicKey])
            for key in [phone, laptop] {
                let opened = try SealedMedia.open(sealed, with: key)
                #expect(opened.complete, "size \(size)")
                #expect(opened.plaintext == plaintext, "size \(size)")
            }
            // The plaintext does not appear in the sealed bytes.
            if size >= 16 {
                let needle = Array(plaintext.prefix(16))
                let found = (0...(sealed.count - 16)).contains { Array(sealed[$0..<$0 + 16]) == needle }
                #expect(!found)
            }
        }
    }

    @Test("a key the item was not sealed for opens nothing, and says which keys it was for")
    func otherKey() throws {
        let owner = OwnerKey()
        let sealed = try Self.seal(Self.random(100), for: [owner.publicKey])
        #expect(throws: SealError.notForThisKey(recipients: [owner.publicKey.id])) {
            try SealedMedia.open(sealed, with: OwnerKey())
        }
        // A revoked key is simply not among the recipients of new items.
        #expect(throws: SealError.noRecipients) { try MediaSealer(media: "m", kind: "clip", recipients: []) }
    }

    /// A partial upload opens up to its last whole chunk and says it is incomplete.
    @Test("a cut item opens up to its last whole chunk, marked incomplete")
    func partial() throws {
        let owner = OwnerKey()
        let plaintext = Self.random(3500)
        let sealed = try Self.seal(plaintext, for: [owner.publicKey])
        let headerLength = 8 + sealed[4..<8].reduce(0) { $0 << 8 | Int($1) }
        let chunk = 4 + 1000 + 16
        for (cut, expected) in [
            (headerLength, 0), (headerLength + chunk - 1, 0), (headerLength + chunk, 1000),
            (headerLength + 3 * chunk + 10, 3000), (sealed.count - 1, 3000),
        ] {
            let opened = try SealedMedia.open(Array(sealed.prefix(cut)), with: owner)
            #expect(!opened.complete, "cut at \(cut)")
            #expect(opened.plaintext == Array(plaintext.prefix(expected)), "cut at \(cut)")
        }
    }

    @Test("an edited, reordered or spliced chunk, or an edited header, is refused")
    func tampering() throws {
        let owner = OwnerKey()
        let sealed = try Self.seal(Self.random(3500), for: [owner.publicKey])
        let headerLength = 8 + sealed[4..<8].reduce(0) { $0 << 8 | Int($1) }
        let chunk = 4 + 1000 + 16

        var edited = sealed
        edited[headerLength + chunk + 50] ^= 1
        #expect(throws: SealError.tampered(chunk: 1)) { try SealedMedia.open(edited, with: owner) }

        var swapped = Array(sealed[..<headerLength])
        swapped += sealed[(headerLength + chunk)..<(headerLength + 2 * chunk)]
        swapped += sealed[headerLength..<(headerLength + chunk)]
        swapped += sealed[(headerLength + 2 * chunk)...]
        #expect(throws: SealError.tampered(chunk: 0)) { try SealedMedia.open(swapped, with: owner) }

        // The last chunk dropped and an inner one presented as last: refused, not a shorter clip.
        let other = try Self.seal(Self.random(3500), for: [owner.publicKey])
        let spliced = Array(sealed[..<(headerLength + chunk)]) + other[(other.count - 520)...]
        #expect(throws: SealError.self) { try SealedMedia.open(spliced, with: owner) }

        // The header names the item; changing its kind breaks every chunk.
        let header = String(decoding: sealed[8..<headerLength], as: UTF8.self)
        let renamed = header.replacingOccurrences(of: "\"kind\":\"clip\"", with: "\"kind\":\"snap\"")
        #expect(renamed != header && renamed.utf8.count == header.utf8.count)
        let relabelled = Array(sealed[..<8]) + Array(renamed.utf8) + sealed[headerLength...]
        #expect(throws: SealError.tampered(chunk: 0)) { try SealedMedia.open(relabelled, with: owner) }

        // A wrapped key moved to another item (another id in HPKE's info) does not open.
        let moved = header.replacingOccurrences(of: "evt-1-clip", with: "evt-2-clip")
        let rewrapped = Array(sealed[..<4]) + [0, 0, 0, 0] + Array(moved.utf8) + sealed[headerLength...]
        var fixed = rewrapped
        let length = UInt32(moved.utf8.count)
        for (index, shift) in [24, 16, 8, 0].enumerated() {
            fixed[4 + index] = UInt8(truncatingIfNeeded: length >> shift)
        }
        #expect(throws: SealError.tampered(chunk: -1)) { try SealedMedia.open(fixed, with: owner) }
    }

    @Test("owner public keys travel as base64 points and keep their id")
    func publicKeyEncoding() throws {
        let owner = OwnerKey()
        let text = owner.publicKey.base64
        #expect(Data(base64Encoded: text)?.count == 65)
        #expect(try OwnerPublicKey(base64: text).id == owner.publicKey.id)
        #expect(owner.publicKey.id.count == 32)
        #expect(throws: SealError.self) { try OwnerPublicKey(base64: "bm90IGEga2V5") }
        #expect(try OwnerKey(rawRepresentation: owner.rawRepresentation).publicKey == owner.publicKey)
    }
}

@Suite("Key roles in the recovery key's endorsement")
struct KeyRoleTests {
    @Test("an endorsement holds for the role it was made for only")
    func roles() throws {
        let recovery = OwnerKey()
        let key = OwnerKey().publicKey
        let owner = try KeyEndorsement.sign(key.x963, with: recovery)
        let notification = try KeyEndorsement.sign(key.x963, with: recovery, role: .notification)
        let point = recovery.publicKey.x963
        #expect(KeyEndorsement.isValid(owner, for: key.x963, by: point, role: .owner))
        #expect(!KeyEndorsement.isValid(owner, for: key.x963, by: point, role: .notification))
        #expect(KeyEndorsement.isValid(notification, for: key.x963, by: point, role: .notification))
        #expect(!KeyEndorsement.isValid(notification, for: key.x963, by: point, role: .owner))
    }
}

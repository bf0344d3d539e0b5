import Crypto
import Foundation
import Testing

@testable import Privacy

@Suite(.timeLimit(.minutes(10))) struct TalkSealTests {
    static let pcm = (0..<TalkSeal.pcmSize).map { UInt8(truncatingIfNeeded: $0 * 7) }

    @Test("the owner's voice key opens only with the doorbell's talk key and for its session")
    func voiceKey() throws {
        let talkKey = OwnerKey()
        let (wrapped, owner) = try TalkSeal.ownerSide(session: "session-1", talkKey: talkKey.publicKey.x963)
        var door = TalkCipher(
            key: try TalkSeal.unwrap(wrapped, session: "session-1", with: talkKey), direction: .toDoor)
        #expect(try door.open(owner.seal(Self.pcm, sequence: 0)).pcm == Self.pcm)
        #expect(throws: SealError.self) { try TalkSeal.unwrap(wrapped, session: "session-2", with: talkKey) }
        #expect(throws: SealError.self) { try TalkSeal.unwrap(wrapped, session: "session-1", with: OwnerKey()) }
        var bent = wrapped
        bent.wrapped = "AAAA" + bent.wrapped.dropFirst(4)
        #expect(throws: SealError.self) { try TalkSeal.unwrap(bent, session: "session-1", with: talkKey) }
    }

    @Test("the door's key opens only for an owner key it was sealed for, for its session, from the doorbell")
    func doorKey() throws {
        let owners = [OwnerKey(), OwnerKey()]
        let talkKey = OwnerKey()
        let (wrapped, voice) = try TalkSeal.ownerSide(session: "s-1", talkKey: talkKey.publicKey.x963)
        let opened = TalkCipher(key: try TalkSeal.unwrap(wrapped, session: "s-1", with: talkKey), direction: .toDoor)
        let (header, key) = try TalkSeal.doorHeader(session: "s-1", for: owners.map(\.publicKey), answering: opened)
        let door = TalkCipher(key: key, direction: .toOwner)
        for owner in owners {
            var opener = TalkCipher(
                key: try TalkSeal.openDoorHeader(header, session: "s-1", with: owner, voice: voice),
                direction: .toOwner)
            #expect(try opener.open(door.seal(Self.pcm, sequence: 3)) == (3, Self.pcm))
        }
        #expect(throws: SealError.self) {
            try TalkSeal.openDoorHeader(header, session: "s-2", with: owners[0], voice: voice)
        }
        #expect(throws: SealError.self) {
            try TalkSeal.openDoorHeader(header, session: "s-1", with: OwnerKey(), voice: voice)
        }
        // The relay knows the owner's public keys and can make a header for them, but not its
        // proof: that needs the voice key, which only the doorbell's talk key opens.
        let (_, relayVoice) = try TalkSeal.ownerSide(session: "s-1", talkKey: OwnerKey().publicKey.x963)
        let (forged, _) = try TalkSeal.doorHeader(
            session: "s-1", for: owners.map(\.publicKey), answering: relayVoice)
        #expect(throws: SealError.self) {
            try TalkSeal.openDoorHeader(forged, session: "s-1", with: owners[0], voice: voice)
        }
        #expect(throws: SealError.self) {
            try TalkSeal.openDoorHeader(Array(header.dropLast()), session: "s-1", with: owners[0], voice: voice)
        }
        // A picture's header is not a talk header, even for the same media name.
        let picture = try MediaSealer(media: "talk-s-1", kind: "live", recipients: [owners[0].publicKey]).header
        #expect(throws: SealError.self) {
            try TalkSeal.openDoorHeader(
                picture + TalkSeal.proof(picture, voice: opened), session: "s-1", with: owners[0], voice: voice)
        }
    }

    @Test("a frame replayed, reordered, altered, of the other direction or the wrong size is refused")
    func frames() throws {
        let key = SymmetricKey(size: .bits128)
        let sender = TalkCipher(key: key, direction: .toDoor)
        var receiver = TalkCipher(key: key, direction: .toDoor)
        let first = sender.seal(Self.pcm, sequence: 5)
        #expect(first.count == TalkSeal.frameSize)
        #expect(try receiver.open(first).sequence == 5)
        #expect(throws: TalkFrameRefusal.outOfOrder(sequence: 5, expected: 6)) { try receiver.open(first) }
        #expect(throws: TalkFrameRefusal.outOfOrder(sequence: 4, expected: 6)) {
            try receiver.open(sender.seal(Self.pcm, sequence: 4))
        }
        var altered = sender.seal(Self.pcm, sequence: 9)
        altered[100] ^= 1
        #expect(throws: TalkFrameRefusal.tampered(sequence: 9)) { try receiver.open(altered) }
        // The number is under the tag: moved to another number, it does not open.
        var renumbered = sender.seal(Self.pcm, sequence: 9)
        renumbered[3] = 10
        #expect(throws: TalkFrameRefusal.tampered(sequence: 10)) { try receiver.open(renumbered) }
        let otherWay = TalkCipher(key: key, direction: .toOwner).seal(Self.pcm, sequence: 11)
        #expect(throws: TalkFrameRefusal.tampered(sequence: 11)) { try receiver.open(otherWay) }
        #expect(throws: TalkFrameRefusal.size(644)) { try receiver.open([UInt8](repeating: 0, count: 644)) }
        // A gap is fine (frames lost on the way): later ones still open, in order.
        #expect(try receiver.open(sender.seal(Self.pcm, sequence: 40)).sequence == 40)
    }

    @Test("a signed command verifies only with its signer's key, unaltered; malformed ones are refused")
    func commandSignature() throws {
        let owner = OwnerKey()
        let command = OwnerCommand(device: "d", name: "live-start", at: 1, nonce: "n", key: owner.publicKey.id)
        let (text, signature) = try command.signed(by: owner)
        let keys = [OwnerKey().publicKey, owner.publicKey]
        #expect(try OwnerCommand.verified(text, signature: signature, keys: keys).command == command)
        #expect(throws: CommandRefusal.unknownKey(owner.publicKey.id)) {
            try OwnerCommand.verified(text, signature: signature, keys: [OwnerKey().publicKey])
        }
        #expect(throws: CommandRefusal.badSignature) {
            try OwnerCommand.verified(
                text.replacingOccurrences(of: "\"d\"", with: "\"e\""), signature: signature, keys: keys)
        }
        // Another key's signature under this key's id.
        let (_, other) = try command.signed(by: OwnerKey())
        #expect(throws: CommandRefusal.badSignature) { try OwnerCommand.verified(text, signature: other, keys: keys) }
        for (bad, badSignature) in [
            (text, "c2hvcnQ="), (text, "not base64"), ("{}", signature), ("[1,2]", signature),
            (String(repeating: " ", count: 5000) + text, signature),
            (text.replacingOccurrences(of: "\"v\":1", with: "\"v\":2"), signature),
        ] {
            #expect(throws: CommandRefusal.self) { try OwnerCommand.verified(bad, signature: badSignature, keys: keys) }
        }
    }

    @Test("tokens are ASCII letters, digits, - and _ within the length")
    func tokens() {
        #expect(OwnerCommand.isToken("abcDEF-0_9", length: 8...64))
        #expect(!OwnerCommand.isToken("short", length: 8...64))
        #expect(!OwnerCommand.isToken(String(repeating: "a", count: 65), length: 8...64))
        #expect(!OwnerCommand.isToken("with space", length: 8...64))
        #expect(!OwnerCommand.isToken("ünïcödé-long", length: 8...64))
        #expect(!OwnerCommand.isToken("../../etc/x", length: 8...64))
    }
}

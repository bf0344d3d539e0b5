import DoorbellCore
import DoorbellTestKit
import Foundation
import Media
import Privacy
import Testing

/// The page's security-critical script, `sealed.js`, under Node's test runner
/// (`Tests/WebUI/sealed.test.mjs`) against items sealed here by the Swift code; what the script
/// seals for the doorbell is then opened here.
@Suite("The page's sealed-media script under Node", .serialized, .timeLimit(.minutes(10)))
struct PageScriptTests {
    @Test(
        "sealed.js opens what Swift sealed, refuses what was cut, altered or sealed for others, and seals talk the doorbell opens"
    )
    func sealedScript() async throws {
        let directory = try TemporaryDirectory()
        let write = { (name: String, bytes: [UInt8]) in
            try Data(bytes).write(to: URL(fileURLWithPath: directory.path + "/" + name))
        }
        let owner = OwnerKey()
        let plain = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let chunk = 65_536
        var sealer = try MediaSealer(
            media: "e1-clip", kind: "clip", recipients: [OwnerKey().publicKey, owner.publicKey], chunkSize: chunk)
        let whole = sealer.header + sealer.seal(plain) + sealer.finish()
        try write("plain", plain)
        try write("whole", whole)
        // Cut inside the third chunk: two whole chunks open.
        try write("truncated", Array(whole.prefix(sealer.header.count + 2 * (4 + chunk + 16) + 1000)))
        var tampered = whole
        tampered[sealer.header.count + 4 + 10] ^= 1
        try write("tampered", tampered)
        try write("foreign", try MediaSealer.seal(plain, media: "e2-clip", kind: "clip", for: [OwnerKey().publicKey]))
        // Talk: the door's header and frames, for the owner's key.
        let talkKey = OwnerKey()
        let session = "node-session-1"
        let (_, voice) = try TalkSeal.ownerSide(session: session, talkKey: talkKey.publicKey.x963)
        let (header, doorKey) = try TalkSeal.doorHeader(session: session, for: [owner.publicKey], answering: voice)
        try write("talk-header", header)
        let door = TalkCipher(key: doorKey, direction: .toOwner)
        let frames = (0..<5).map {
            door.seal([UInt8](repeating: UInt8($0), count: TalkSeal.pcmSize), sequence: UInt32($0)).base64()
        }
        try JSONEncoder().encode(frames).write(to: URL(fileURLWithPath: directory.path + "/talk-frames.json"))
        try write("talk-key", Array(talkKey.publicKey.x963))
        let point = owner.publicKey.x963
        let jwk = [
            "d": owner.rawRepresentation.base64URL, "x": point[1..<33].base64URL, "y": point[33..<65].base64URL,
        ]
        let fixture: [String: Any] = [
            "jwk": jwk, "point": point.base64EncodedString(), "chunk": chunk, "wholeChunks": 2, "session": session,
        ]
        try JSONSerialization.data(withJSONObject: fixture).write(
            to: URL(fileURLWithPath: directory.path + "/owner.json"))

        let text = try Self.node("sealed.test.mjs", fixtures: directory.path)
        #expect(text.contains("# pass 7"), "\(text)")

        // What the page sealed for the doorbell opens with the doorbell's talk key.
        let data = try Data(contentsOf: URL(fileURLWithPath: directory.path + "/from-node.json"))
        let fromNode = try JSONDecoder().decode([String: String].self, from: data)
        let wrapped = TalkSeal.Wrapped(enc: fromNode["enc"] ?? "", wrapped: fromNode["wrapped"] ?? "")
        var opener = TalkCipher(key: try TalkSeal.unwrap(wrapped, session: session, with: talkKey), direction: .toDoor)
        let frame = try #require(fromNode["frame"].flatMap { Data(base64Encoded: $0) })
        let opened = try opener.open(Array(frame))
        #expect(opened.sequence == 7 && opened.pcm == [UInt8](repeating: 42, count: TalkSeal.pcmSize))
        #expect(throws: SealError.self) { try TalkSeal.unwrap(wrapped, session: "another", with: talkKey) }
    }

    @Test("clip.js reads the clips the doorbell writes: every frame in order, and only whole ones of a clip cut short")
    func clipScript() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/clip.mkv"
        let clip = try ClipWriter(path: path, header: .init(eventID: "e1", width: 64, height: 48, audio: true))
        let count = 40
        for index in 0..<count {
            let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, UInt8(index)] + [UInt8](repeating: 0x42, count: 995)
            try clip.append(
                Frame(
                    bytes: jpeg, format: .mjpeg, width: 64, height: 48, timestamp: .milliseconds(index * 250),
                    sequence: UInt64(index)))
            try clip.appendAudio([Int16](repeating: 100, count: 320), at: .milliseconds(index * 250))
        }
        try clip.finish()
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        try whole.prefix(whole.count / 2 + 7).write(to: URL(fileURLWithPath: directory.path + "/clip-cut.mkv"))
        let expected: [String: Any] = ["frames": count, "size": 1000, "times": (0..<count).map { Double($0) * 0.25 }]
        try JSONSerialization.data(withJSONObject: expected).write(
            to: URL(fileURLWithPath: directory.path + "/clip.json"))
        let text = try Self.node("clip.test.mjs", fixtures: directory.path)
        #expect(text.contains("# pass 3"), "\(text)")
    }

    @Test("the service worker reads pushes within bounds, shows the text first when the picture is late, leads right")
    func serviceWorker() throws {
        let directory = try TemporaryDirectory()
        let text = try Self.node("sw.test.mjs", fixtures: directory.path)
        #expect(text.contains("# pass 6"), "\(text)")
    }

    /// Runs one of `Tests/WebUI`'s Node test files on the fixtures; returns what it printed, after
    /// checking that it passed.
    static func node(_ file: String, fixtures: String) throws -> String {
        let repository = #filePath.components(separatedBy: "/Tests/")[0]
        let node = Process()
        node.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        node.arguments = ["node", "--test", repository + "/Tests/WebUI/" + file]
        node.environment = ProcessInfo.processInfo.environment.merging(["PORCHLIGHT_FIXTURES": fixtures]) { $1 }
        let output = Pipe()
        node.standardOutput = output
        node.standardError = output
        try node.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        node.waitUntilExit()
        #expect(node.terminationStatus == 0, "\(text)")
        return text
    }
}

extension Collection<UInt8> {
    fileprivate var base64URL: String {
        Data(self).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(
            of: "/", with: "_"
        )
        .replacingOccurrences(of: "=", with: "")
    }

    fileprivate func base64() -> String { Data(self).base64EncodedString() }
}

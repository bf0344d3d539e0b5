import Audio
import DoorbellCore
import Config
import Crypto
import Foundation
import Media
import Privacy
import SyncProtocol

// The parsers that take bytes from outside the process, as libFuzzer targets
// (Tests/Fuzz/run, docs/fuzzing.md). Built with `-sanitize=fuzzer,address -D FUZZING` this hands
// `PORCHLIGHT_FUZZ_TARGET`'s parser to libFuzzer's driver; built plainly (as `swift build` does)
// it replays files through a target: `porchlight-fuzz TARGET FILE...`, which is how the committed
// corpus and every crash found run as regression tests. A target may refuse an input (that is its
// job); it must not trap, hang or leak.

/// One parser, fed one input; true when it accepted the input (the replay counts them, to show
/// that the seeds reach past the first checks).
typealias Target = @Sendable ([UInt8]) -> Bool

/// Static, not top-level, so that the leak checker sees them held when the process exits.
enum Fixtures {
    /// A fixed owner key, so that a sealed seed made with it opens past the header checks.
    static let owner = try! OwnerKey(rawRepresentation: Data(repeating: 7, count: 32))
    /// A fixed device key for signed-request seeds.
    static let device = try! DeviceIdentity(privateKeyBytes: Data(repeating: 9, count: 32))
    /// A fixed talk key (sixteen 5s), so that a sealed talk-frame seed opens.
    static let talk = TalkCipher(key: SymmetricKey(data: Data(repeating: 5, count: 16)), direction: .toDoor)
    static let targets: [String: Target] = allTargets
}
let fuzzOwner = Fixtures.owner
let fuzzDevice = Fixtures.device

let allTargets: [String: Target] = [
    // Request verification: header lines ("Name: value"), a blank line, then the body.
    "request": { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.split(separator: "\n\n", maxSplits: 1, omittingEmptySubsequences: false)
        var headers: [String: String] = [:]
        for line in (parts.first ?? "").split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = Data((parts.count > 1 ? parts[1] : "").utf8)
        let verifier = RequestVerifier(nonces: MemoryNonceStore(windowMilliseconds: RequestVerifier.window)) { id in
            id == fuzzDevice.deviceID ? .active(publicKey: fuzzDevice.publicKey) : (id == "revoked" ? .revoked : nil)
        }
        var accepted = false
        for now in [Int64(0), 1_800_000_000_000, Int64.max, Int64.min] {
            let device = try? verifier.verify(
                method: "POST", path: "/v1/events", headers: headers, body: body, now: now)
            accepted = accepted || device != nil
        }
        return accepted
    },
    // A control-channel message either way: JSON text, or a tagged binary frame.
    "control": { bytes in
        if let message = try? JSONDecoder().decode(ControlMessage.self, from: Data(bytes)) {
            _ = try? JSONEncoder().encode(message)
            if case .accessRecords(let records) = message {
                for record in records { _ = record.isAuthentic(publicKey: fuzzDevice.publicKey) }
            }
            return true
        }
        if let tag = bytes.first, tag == ControlStream.talkAudio.rawValue {
            var cipher = Fixtures.talk
            return (try? cipher.open(bytes.dropFirst())) != nil
        }
        return false
    },
    // A command the owner signed, as the doorbell checks it: the signature (base64) on the first
    // line, then the signed text.
    "command": { bytes in
        let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
        let signature = String(decoding: bytes[..<newline], as: UTF8.self)
        let text = String(decoding: bytes[min(newline + 1, bytes.endIndex)...], as: UTF8.self)
        guard let (command, _) = try? OwnerCommand.verified(text, signature: signature, keys: [fuzzOwner.publicKey])
        else { return false }
        return OwnerCommand.isToken(command.nonce, length: 16...64)
    },
    // A clip as the doorbell recovers it at start (Matroska).
    "clip": { bytes in (try? ClipFile.read(bytes)).map { !$0.frames.isEmpty } ?? false },
    // A quick-reply or chime WAV.
    "wav": { bytes in (try? Sound(wavBytes: bytes)) != nil },
    // The daemon's and the sync module's TOML.
    "config": { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        let daemon = (try? ConfigLoader.parse(text, file: "fuzz.toml")) != nil
        let sync = (try? ConfigLoader.parseSyncModule(text, file: "fuzz.toml")) != nil
        return daemon || sync
    },
    // A sealed snapshot or clip, opened with the owner's key.
    "sealed": { bytes in (try? SealedMedia.open(bytes, with: fuzzOwner))?.complete == true },
    // The pairing exchange: a code as typed (the first line), then the bytes of a reply or request
    // (the rest), read as each end reads them before any trust exists.
    "pairing": { bytes in
        let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
        let code = try? PairingCode.parse(String(decoding: bytes[..<newline], as: UTF8.self))
        let body = Data(bytes[min(newline + 1, bytes.endIndex)...])
        let request = PairingExchange.request(from: body)
        let certificate = try? PairingExchange.certificate(fromReply: body)
        if let binding = code?.binding, let certificate {
            _ = PairingCode.binds(binding, fingerprint: certificate.fingerprint)
        }
        let device = PairingExchange.deviceID(fromReply: body)
        _ = PairingExchange.refusal(fromReply: body)
        return code != nil && (request != nil || certificate != nil || device != nil)
    },
    // An access log as JSON lines, verified against the device's key.
    "accesslog": { bytes in
        let records = String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONDecoder().decode(AccessRecord.self, from: Data($0.utf8))
        }
        let findings = AccessLogVerifier.verify(records, log: fuzzDevice.deviceID, publicKey: fuzzDevice.publicKey)
        return !records.isEmpty && findings.isEmpty
    },
]

#if FUZZING
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    let chosen = ProcessInfo.processInfo.environment["PORCHLIGHT_FUZZ_TARGET"] ?? ""
    guard let selected = Fixtures.targets[chosen] else {
        FileHandle.standardError.write(Data("PORCHLIGHT_FUZZ_TARGET: one of \(Fixtures.targets.keys.sorted())\n".utf8))
        exit(2)
    }
    nonisolated(unsafe) var current: Target = selected

    /// libFuzzer's entry point, which its runtime links against even when the driver is started
    /// from here.
    @_cdecl("LLVMFuzzerTestOneInput")
    func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        _ = current(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
        return 0
    }

    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(runFuzzerDriver(&argc, &argv) { data, size in testOneInput(data, size) })
#else
    /// Writes a seed corpus of valid inputs into `directory`/TARGET/ (how Tests/Fuzz/corpus was
    /// made; the text formats there are written by hand).
    func makeSeeds(in directory: String) throws {
        func write(_ target: String, _ name: String, _ bytes: [UInt8]) throws {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(target)", withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/\(target)/\(name)"))
        }
        let body = Data(#"{"events":[{"key":"k1","eventID":"e1","kind":"ring","wallMilliseconds":1}]}"#.utf8)
        let headers = try fuzzDevice.sign(method: "POST", path: "/v1/events", body: body, now: 1_800_000_000_000)
        let head = headers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
        try write("request", "signed", Array((head + "\n\n").utf8) + Array(body))

        let signer = try AccessSigner(log: fuzzDevice.deviceID, privateKeyBytes: fuzzDevice.privateKeyBytes)
        var last: AccessRecord?
        var lines: [String] = []
        for (index, action) in ["live-view", "snapshot", "talk"].enumerated() {
            let record = try signer.entry(
                after: last, at: 1_800_000_000_000 + Int64(index), actor: "owner:alice", action: action,
                device: fuzzDevice.deviceID, detail: "seed", source: "control channel")
            lines.append(String(decoding: try JSONEncoder().encode(record), as: UTF8.self))
            last = record
        }
        try write("accesslog", "three", Array(lines.joined(separator: "\n").utf8))
        try write(
            "control", "access-records",
            Array(String(decoding: try JSONEncoder().encode(ControlMessage.accessRecords([last!])), as: UTF8.self).utf8)
        )
        try write(
            "control", "talk-frame",
            [ControlStream.talkAudio.rawValue]
                + Fixtures.talk.seal((0..<640).map { UInt8(truncatingIfNeeded: $0) }, sequence: 7))
        let command = OwnerCommand(
            device: fuzzDevice.deviceID, name: "talk-start", at: 1_800_000_000_000,
            nonce: "0123456789abcdef0123456789abcdef", key: fuzzOwner.publicKey.id, session: "fuzz-session-1",
            talk: .init(enc: "BA==", wrapped: "AA=="))
        let (text, signature) = try command.signed(by: fuzzOwner)
        try write("command", "talk-start", Array((signature + "\n" + text).utf8))

        let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0] + Array(repeating: 0x42, count: 60) + [0xFF, 0xD9]
        try write(
            "sealed", "snapshot",
            try MediaSealer.seal(jpeg, media: "e1-snapshot", kind: "snapshot", for: [fuzzOwner.publicKey]))

        let clipPath = NSTemporaryDirectory() + "/porchlight-fuzz-seed.mkv"
        let clip = try ClipWriter(path: clipPath, header: .init(eventID: "e1", width: 64, height: 48, audio: true))
        for index in 0..<3 {
            try clip.append(
                Frame(
                    bytes: jpeg, format: .mjpeg, width: 64, height: 48, timestamp: .milliseconds(index * 400),
                    sequence: UInt64(index)))
            try clip.appendAudio([Int16](repeating: Int16(index * 100), count: 320), at: .milliseconds(index * 400))
        }
        try clip.finish()
        try write("clip", "three-frames", Array(FileManager.default.contents(atPath: clipPath) ?? Data()))
        try? FileManager.default.removeItem(atPath: clipPath)
    }

    let arguments = CommandLine.arguments.dropFirst()
    if arguments.first == "--make-seeds", let directory = arguments.dropFirst().first {
        try makeSeeds(in: directory)
        exit(0)
    }
    guard let name = arguments.first, let target = Fixtures.targets[name] else {
        FileHandle.standardError.write(
            Data(
                "usage: porchlight-fuzz TARGET FILE...  (targets: \(Fixtures.targets.keys.sorted().joined(separator: ", ")))\n"
                    .utf8))
        exit(2)
    }
    var count = 0
    var accepted = 0
    for path in arguments.dropFirst() {
        guard let data = FileManager.default.contents(atPath: path) else {
            FileHandle.standardError.write(Data("porchlight-fuzz: cannot read \(path)\n".utf8))
            exit(1)
        }
        if target(Array(data)) { accepted += 1 }
        count += 1
    }
    print("\(name): \(count) inputs replayed, \(accepted) accepted, none trapped")
#endif

import DoorbellTestKit
import Foundation
import Logging
import Privacy
import ServiceLifecycle
import SyncModule
import SyncStorage
import SyncProtocol
import Testing
import Uplink

/// The threat model's "cannot" list (docs/privacy.md, "A compromised sync module"), each played
/// against the real `porchlightd`: a file camera and a file-backed sound card, paired to a sync
/// module run in this process, whose control hub the test drives as malware on the hub would. It
/// sends whatever it likes on the channel, and holds everything the sync module holds: the owner's
/// public keys, the doorbell's talk key, and every byte the doorbell sends.
@Suite("A compromised sync module against the real doorbell", .serialized, .timeLimit(.minutes(10)))
struct CompromisedSyncTests {
    @Test("it cannot start live view, talk, a snapshot or a quick reply: each is refused, logged and in STATUS")
    func cannotSeeOrHear() async throws {
        try await Compromised.run { rig in
            let (hub, device) = (rig.hub, rig.device)
            var frames = hub.frames(from: device).makeAsyncIterator()
            let forged = OwnerKey()
            let attempts: [ControlCommand] = [
                ControlCommand(.liveStart, id: "live"),
                ControlCommand(.snapshotNow, id: "snapshot"),
                ControlCommand(.talkStart, id: "talk", session: UUID().uuidString),
                ControlCommand(.quickReply, id: "reply"),
                // Signed, but by a key of its own that the recovery key never vouched for.
                rig.keyring.command(.liveStart, id: "own-key", device: device, by: forged),
            ]
            for attempt in attempts {
                let answer = await hub.send(attempt, to: device)
                #expect(answer.ok == false, "\(attempt.id) was carried out")
                #expect(
                    answer.reason?.contains("not signed") == true || answer.reason?.contains("does not hold") == true,
                    "\(attempt.id): \(answer.reason ?? "")")
            }
            // The owner's own command runs, so the refusals are the signature's doing: its frame is
            // the first the hub sees, and it is sealed.
            let owner = await hub.send(
                rig.keyring.command(.liveStart, id: "owner", device: device, maxSeconds: 5), to: device)
            #expect(owner.ok == true, "\(owner.reason ?? "")")
            let first = try #require(await frames.next())
            #expect(try SealedMedia.open(Array(first), with: rig.keyring.browser).complete)
            #expect(rig.daemon.stderr.components(separatedBy: "Live view started.").count == 2)
            #expect(!rig.daemon.stderr.contains("Talk session started."))
            #expect(!rig.daemon.stderr.contains("Snapshot sent."))
            #expect(rig.sound.played.allSatisfy { $0 == 0 }, "something played at the door")
            // STATUS says so from the channel's next check-in, within a second.
            var said = ""
            #expect(
                await eventually(timeout: .seconds(30)) {
                    guard
                        let status = try? ChildProcess(
                            "porchlightctl", arguments: ["status", "--config", rig.configPath]),
                        (try? await status.runToExit()) == 0
                    else { return false }
                    said = status.stdout
                    return said.contains("refused 5 commands the owner did not sign")
                }, "\(said)")
            // In the doorbell's own signed log, which the sync module cannot edit.
            let path = rig.doorbellState + "/access-log.jsonl"
            #expect(
                await eventually(timeout: .seconds(30)) {
                    DoorbellAccessLog.read(path, log: rig.device).contains {
                        $0.action == "command-refused" && $0.actor == "sync module" && $0.detail.contains("live-start")
                    }
                })
        }
    }

    @Test("it cannot replay or alter a command the owner signed")
    func cannotReplay() async throws {
        try await Compromised.run { rig in
            let signed = rig.keyring.command(.snapshotNow, id: "owner", device: rig.device)
            #expect(await rig.hub.send(signed, to: rig.device).ok == true)
            var replayed = signed
            replayed.id = "again"
            let again = await rig.hub.send(replayed, to: rig.device)
            #expect(again.ok == false && again.reason?.contains("replayed") == true, "\(again.reason ?? "")")
            var altered = rig.keyring.command(.liveStart, id: "altered", device: rig.device, maxSeconds: 5)
            altered.signed = altered.signed?.replacingOccurrences(of: "\"maxSeconds\":5", with: "\"maxSeconds\":600")
            let answer = await rig.hub.send(altered, to: rig.device)
            #expect(answer.ok == false && answer.reason?.contains("does not verify") == true, "\(answer.reason ?? "")")
            #expect(rig.daemon.stderr.components(separatedBy: "Snapshot sent.").count == 2)
        }
    }

    @Test("it cannot read talk audio either way, nor speak at the door or for it with a key of its own")
    func cannotReadTalk() async throws {
        try await Compromised.run { rig in
            let (hub, device) = (rig.hub, rig.device)
            let talkKey = try #require(
                await eventually(timeout: .seconds(30)) { (try? rig.store.talkKey(of: device)) != nil }
                    ? try rig.store.talkKey(of: device) : nil)
            let talk = try rig.keyring.talk(device: device, talkKey: talkKey)
            let started = try await hub.beginTalk(
                device: device, session: talk.session, signed: talk.start.signed ?? "",
                signature: talk.start.signature ?? ""
            ).get()
            // The door's key is sealed for the owner's keys only: a key the hub makes does not open it.
            #expect(throws: SealError.self) {
                try TalkSeal.openDoorHeader(
                    Array(started.header), session: talk.session, with: OwnerKey(), voice: talk.toDoor)
            }
            // Nor can the hub answer for the door: a header it makes for the owner's keys lacks the
            // proof that only the voice key gives.
            let (_, hubVoice) = try TalkSeal.ownerSide(session: talk.session, talkKey: talkKey)
            let owners = try rig.keyring.wire.map { try OwnerPublicKey(base64: $0.publicKey) }
            let (forged, _) = try TalkSeal.doorHeader(session: talk.session, for: owners, answering: hubVoice)
            #expect(throws: SealError.self) { try talk.fromDoor(forged) }
            var fromDoor = try talk.fromDoor(started.header)
            // The hub speaks first with a voice key of its own, sealed for the doorbell's talk key
            // as the owner's is; then the owner speaks.
            // Little-endian samples: 8000 from the hub, 1000 from the owner.
            let loud = (0..<TalkSeal.pcmSize).map { UInt8($0 % 2 == 0 ? 0x40 : 0x1F) }
            for sequence in 0..<UInt32(25) {
                try await hub.sendTalk(
                    Data(hubVoice.seal(loud, sequence: sequence)), device: device, session: talk.session)
            }
            let quiet = (0..<TalkSeal.pcmSize).map { UInt8($0 % 2 == 0 ? 0xE8 : 0x03) }
            let owner = Task {
                for sequence in 0..<UInt32(50) {
                    try await hub.sendTalk(
                        Data(talk.toDoor.seal(quiet, sequence: sequence)), device: device, session: talk.session)
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            var heard = 0
            var peak = 0
            for await frame in started.door {
                #expect(frame.count == TalkSeal.frameSize)
                let (_, pcm) = try fromDoor.open(frame)
                for index in stride(from: 0, to: pcm.count, by: 2) {
                    peak = max(peak, abs(Int(Int16(bitPattern: UInt16(pcm[index]) | UInt16(pcm[index + 1]) << 8))))
                }
                heard += 1
                if heard >= 50 { break }
            }
            try await owner.value
            #expect(peak > 1000, "the door's microphone did not reach the owner (peak \(peak))")
            #expect(
                await eventually(timeout: .seconds(30)) { rig.sound.played.contains { abs(Int($0)) >= 900 } },
                "the owner's voice did not play at the door")
            hub.endTalk(device: device, session: talk.session)
            #expect(
                await eventually(timeout: .seconds(30)) { rig.daemon.stderr.contains("Talk session ended.") })
            // The hub's frames were refused at the door and never played.
            #expect(!rig.sound.played.contains { abs(Int($0)) >= 7000 }, "the hub's voice played at the door")
            // The uplink's counters are logged as its task ends, which can be just after the audio
            // device's "Talk session ended.".
            #expect(
                await eventually(timeout: .seconds(30)) {
                    rig.daemon.stderr.contains("talk frames on the control channel")
                })
            let counts = rig.daemon.stderr.split(separator: "\n").last {
                $0.contains("talk frames on the control channel")
            }
            #expect(counts?.contains("refused=25") == true, "\(counts ?? "")")
        }
    }
}

/// The real doorbell and the compromised sync module of one test.
struct Compromised {
    let store: SQLiteSyncStore
    let hub: ControlHub
    let daemon: ChildProcess
    let keyring: OwnerKeyring
    let device: String
    let sound: ALSAFiles
    let configPath: String
    let doorbellState: String

    /// Starts both, runs `body` once the doorbell's channel is open and its owner keys pinned, and
    /// stops both after, also when `body` throws.
    static func run(_ body: (Compromised) async throws -> Void) async throws {
        let setup = try await PairedSetup()
        let doorbell = setup.directory.path + "/doorbell"
        let syncState = setup.directory.path + "/sync"
        try FileManager.default.createDirectory(atPath: syncState, withIntermediateDirectories: true)
        let (sound, configPath) = try setup.soundDoorbell()
        // Paired as `porchlightctl pair` leaves it, with the owner's recovery key pinned.
        let store = try SQLiteSyncStore(path: syncState + "/sync.sqlite")
        let identity = try ServerIdentity.loadOrCreate(directory: syncState, hostnames: ["localhost"])
        let device = try PairingRecord.identity(in: doorbell)
        let now = unixMilliseconds()
        try store.addPairingCode("EVIL-CODE", expiresAt: now + 60_000)
        _ = try store.pair(code: "EVIL-CODE", publicKey: device.publicKey, name: "Front", now: now)
        try PairingRecord(
            url: "https://localhost:\(setup.port)", certificatePEM: identity.certificatePEM,
            fingerprint: identity.fingerprint, deviceID: device.deviceID
        ).save(in: doorbell)
        let keyring = OwnerKeyring()
        for key in keyring.wire {
            _ = try store.addOwnerKey(
                owner: BrowserTests.owner, label: key.label, publicKey: key.publicKey, signature: key.signature,
                now: now)
        }
        let keys = OwnerKeysFile(stateDirectory: doorbell)
        try keys.trust(point: keyring.recovery.publicKey.base64, fingerprint: keyring.fingerprint)

        var logger = Logger(label: "compromised")
        logger.logLevel = .critical
        let api = SyncAPI(
            store: store, media: try MediaFiles(directory: syncState + "/media", maxBytes: 0), logger: logger)
        let server = ServiceGroup(
            services: [
                try SyncServer.application(
                    api: api, identity: identity, host: "127.0.0.1", port: setup.port, logger: logger)
            ], logger: logger)
        let serving = Task { try await server.run() }
        let daemon = try ChildProcess(
            "porchlightd", arguments: ["--config", configPath],
            environment: ["ALSA_CONFIG_PATH": ALSAFiles.configurationPath])
        try daemon.start()
        let rig = Compromised(
            store: store, hub: api.control, daemon: daemon, keyring: keyring, device: device.deviceID, sound: sound,
            configPath: configPath, doorbellState: doorbell)
        do {
            try #require(await daemon.notify.waitFor("READY=1") != nil, "stderr:\n\(daemon.stderr)")
            try #require(
                await eventually(timeout: .seconds(30)) {
                    api.control.connected.contains(device.deviceID) && keys.recipients()?.count == 2
                }, "stderr:\n\(daemon.stderr)")
            try await body(rig)
        } catch {
            daemon.signal(SIGTERM)
            await server.triggerGracefulShutdown()
            _ = try? await serving.value
            throw error
        }
        #expect(await daemon.terminate() == 0, "stderr:\n\(daemon.stderr.suffix(3000))")
        await server.triggerGracefulShutdown()
        _ = try? await serving.value
    }
}

import DoorbellTestKit
import Foundation
import GRDB
import Privacy
import SyncModule
import SyncStorage
import SyncProtocol
import Testing
import Uplink

@Suite("porchlightd lifecycle, run as a child process", .timeLimit(.minutes(10)))
struct LifecycleTests {
    @Test("READY=1 after startup, then SIGTERM ends it with exit 0 within 5 s")
    func sigtermShutsDownGracefully() async throws {
        let directory = try TemporaryDirectory()
        let (daemon, _) = try await startDaemon(in: directory)
        let signalled = ContinuousClock.now
        let status = await daemon.terminate()
        #expect(status == 0, "stderr:\n\(daemon.stderr)")
        #expect(ContinuousClock.now - signalled < .seconds(5))
        #expect(await daemon.notify.waitFor("STOPPING=1", timeout: .seconds(1)) != nil)
    }

    @Test("SIGHUP with a valid change sends RELOADING=1 with MONOTONIC_USEC, then READY=1, and applies it")
    func sighupReloads() async throws {
        let directory = try TemporaryDirectory()
        let (daemon, _) = try await startDaemon(in: directory)

        try directory.write(
            "porchlight.toml",
            validConfig(in: directory).replacingOccurrences(of: "level = \"debug\"", with: "level = \"info\""))
        daemon.signal(SIGHUP)
        let reload = try #require(await daemon.notify.waitFor("READY=1"))
        let reloading = try #require(reload.first { $0.contains("RELOADING=1") })
        #expect(reloading.contains("MONOTONIC_USEC="))
        #expect(reload.last?.contains("STATUS=Configuration reloaded.") == true)

        #expect(await daemon.terminate() == 0)
        #expect(daemon.stderr.contains("Configuration reloaded."))
    }

    @Test("SIGHUP with a broken config keeps the daemon running on the old one and logs every error")
    func sighupWithBrokenConfigKeepsRunning() async throws {
        let directory = try TemporaryDirectory()
        let (daemon, _) = try await startDaemon(in: directory)

        try directory.write(
            "porchlight.toml", validConfig(in: directory) + "\n[motion]\nanalysis_fps = 0\nsensitivty = 3\n")
        daemon.signal(SIGHUP)
        let reload = try #require(await daemon.notify.waitFor("READY=1"))
        #expect(reload.contains { $0.contains("RELOADING=1") })
        #expect(reload.last?.contains("Reload rejected: 2 configuration error(s)") == true)

        // Still alive and still answering signals.
        #expect(await daemon.exitStatus(within: .milliseconds(500)) == nil)
        daemon.signal(SIGHUP)
        #expect(await daemon.notify.waitFor("READY=1") != nil)
        let log = daemon.stderr
        #expect(log.contains("motion.analysis_fps"))
        #expect(log.contains("did you mean 'sensitivity'") == false)  // not a known key: no false suggestion
        #expect(log.contains("motion.sensitivty"))

        #expect(await daemon.terminate() == 0)
    }

    @Test("with WATCHDOG_USEC set, WATCHDOG=1 pings arrive while the pipelines check in")
    func watchdogPings() async throws {
        let directory = try TemporaryDirectory()
        let (daemon, _) = try await startDaemon(in: directory, environment: ["WATCHDOG_USEC": "400000"])
        // Pings keep coming while the pipelines check in, and never faster than the 200 ms
        // cadence: however late this test reads them, no more can have been sent than intervals
        // passed. (The exact cadence is SystemdServiceTests', on a clock the test moves.)
        _ = await daemon.notify.queued()
        let start = ContinuousClock.now
        var pings = 0
        while pings < 4, let seen = await daemon.notify.waitFor("WATCHDOG=1") {
            pings += seen.filter { $0 == "WATCHDOG=1" }.count
        }
        let intervals = (ContinuousClock.now - start) / .milliseconds(200)
        #expect(pings >= 4, "WATCHDOG=1 stopped after \(pings) pings")
        #expect(Double(pings) <= intervals + 2, "\(pings) pings in \(intervals) intervals of 200 ms")
        #expect(await daemon.terminate() == 0)
    }

    @Test("a broken config at start exits 78 and names the file, the key and the problem")
    func brokenConfigAtStart() async throws {
        let directory = try TemporaryDirectory()
        let config = try directory.write("porchlight.toml", "[button]\nline = 17\ndebounse_ms = 20\n")
        let daemon = try ChildProcess("porchlightd", arguments: ["--config", config])
        #expect(try await daemon.runToExit() == 78)
        #expect(daemon.stderr.contains("\(config):3: button.debounse_ms: unknown key"))
        #expect(daemon.stderr.contains("did you mean 'debounce_ms'?"))
        #expect(await daemon.notify.next(timeout: .milliseconds(100)) == nil)
    }

    @Test("a quick reply in a format that cannot be converted is a config error at start and at check, exit 78")
    func unconvertibleQuickReply() async throws {
        let directory = try TemporaryDirectory()
        // A μ-law WAV header (format 7) with a little data.
        var wav = Array("RIFF".utf8) + [40, 0, 0, 0] + Array("WAVEfmt ".utf8) + [16, 0, 0, 0, 7, 0, 1, 0]
        wav += [0x40, 0x1F, 0, 0, 0x40, 0x1F, 0, 0, 1, 0, 8, 0] + Array("data".utf8) + [4, 0, 0, 0, 1, 2, 3, 4]
        let reply = directory.path + "/hello.wav"
        try Data(wav).write(to: URL(fileURLWithPath: reply))
        let config = try directory.write(
            "porchlight.toml",
            validConfig(in: directory) + "\n[[audio.quick_replies]]\nname = \"Hello\"\nfile = \"\(reply)\"\n")
        let daemon = try ChildProcess("porchlightd", arguments: ["--config", config])
        #expect(try await daemon.runToExit() == 78)
        #expect(daemon.stderr.contains("audio.quick_replies[0].file"))
        #expect(daemon.stderr.contains("\(reply) is compressed as μ-law (format 7), which cannot be converted"))
        #expect(daemon.stderr.contains("sox"))
        let ctl = try ChildProcess("porchlightctl", arguments: ["config", "check", config])
        #expect(try await ctl.runToExit() == 78)
        #expect(ctl.stderr.contains("audio.quick_replies[0].file"))
    }

    @Test("a GPIO chip that is not there is a clear startup error, exit 69, and never READY")
    func missingChipAtStart() async throws {
        let directory = try TemporaryDirectory()
        let config = try directory.write(
            "porchlight.toml",
            "[button]\nchip = \"/dev/gpiochip-absent\"\nline = 17\n[storage]\nruntime_directory = \"\(directory.path)\"\n"
        )
        let daemon = try ChildProcess("porchlightd", arguments: ["--config", config])
        #expect(try await daemon.runToExit() == 69)
        #expect(daemon.stderr.contains("cannot open GPIO chip /dev/gpiochip-absent: No such file or directory"))
        let messages = await daemon.notify.drain(for: .milliseconds(100))
        #expect(!messages.contains { $0.contains("READY=1") })
    }

    @Test("porchlightctl ring makes the running daemon ring; a second ring in the window is counted on it")
    func ringOverTheControlSocket() async throws {
        let directory = try TemporaryDirectory()
        let (daemon, config) = try await startDaemon(in: directory)

        let first = try ChildProcess("porchlightctl", arguments: ["ring", "--config", config])
        #expect(try await first.runToExit() == 0)
        // At once: the daemon plays simulated presses one after another, so this is a second press.
        let second = try ChildProcess("porchlightctl", arguments: ["ring", "--config", config])
        #expect(try await second.runToExit() == 0)
        let status = try ChildProcess("porchlightctl", arguments: ["status", "--config", config])
        #expect(try await status.runToExit() == 0)
        #expect(await eventually(timeout: .seconds(30)) { daemon.stderr.contains("press_count=2") })

        #expect(await daemon.terminate() == 0)
        let log = daemon.stderr
        #expect(log.contains("Ring. chime_silenced=false event=ring event_id="))
        #expect(log.contains("More presses on the ring. event=ring-press-count"))
        #expect(log.contains("press_count=2"))
    }

    @Test("porchlightctl ring without a running daemon says so and exits 69")
    func ringWithoutDaemon() async throws {
        let directory = try TemporaryDirectory()
        let config = try directory.write("porchlight.toml", validConfig(in: directory))
        let ctl = try ChildProcess("porchlightctl", arguments: ["ring", "--config", config])
        #expect(try await ctl.runToExit() == 69)
        #expect(ctl.stderr.contains("is porchlightd running?"))
    }

    @Test("a missing config file at start exits 78")
    func missingConfigAtStart() async throws {
        let directory = try TemporaryDirectory()
        let daemon = try ChildProcess("porchlightd", arguments: ["--config", "\(directory.path)/absent.toml"])
        #expect(try await daemon.runToExit() == 78)
        #expect(daemon.stderr.contains("No such file or directory"))
    }
}

@Suite("Configuration checks from the command line", .timeLimit(.minutes(10)))
struct ConfigCheckCommandTests {
    @Test("porchlightd --check-config exits 0 on the shipped example")
    func checkConfigValid() async throws {
        let root = #filePath.components(separatedBy: "/Tests/")[0]
        let daemon = try ChildProcess("porchlightd", arguments: ["--check-config", "\(root)/config/porchlight.toml"])
        #expect(try await daemon.runToExit() == 0)
    }

    @Test("porchlightctl config check prints every error and exits 78")
    func ctlCheckInvalid() async throws {
        let directory = try TemporaryDirectory()
        let config = try directory.write(
            "bad.toml", "[button]\nline = 17\nbias = \"up\"\n[camera]\nfps = 0\nwidth = \"wide\"\n")
        let ctl = try ChildProcess("porchlightctl", arguments: ["config", "check", config])
        #expect(try await ctl.runToExit() == 78)
        let output = ctl.stderr
        #expect(output.contains("bad.toml:3: button.bias"))
        #expect(output.contains("bad.toml:5: camera.fps"))
        #expect(output.contains("bad.toml:6: camera.width: expected an integer, found a string (\"wide\")"))
        #expect(output.contains("3 configuration errors"))
    }

    @Test("porchlightd --check-config exits 78 on a broken file without starting anything")
    func checkConfigInvalid() async throws {
        let directory = try TemporaryDirectory()
        let config = try directory.write("bad.toml", "[camera]\nfps = 0\n")
        let daemon = try ChildProcess("porchlightd", arguments: ["--check-config", config])
        #expect(try await daemon.runToExit() == 78)
        #expect(daemon.stderr.contains("button.line: missing required value"))
        #expect(daemon.stderr.contains("camera.fps"))
    }
}

@Suite("porchlightctl motion analyze", .timeLimit(.minutes(10)))
struct MotionAnalyzeCommandTests {
    @Test("it prints the events and writes the CSV and the debug images")
    func analyzeTree() async throws {
        let root = #filePath.components(separatedBy: "/Tests/")[0]
        let directory = try TemporaryDirectory()
        let config = try directory.write(
            "motion.toml",
            "[button]\nsource = \"simulated\"\n[camera]\nfps = 15\n[motion]\nanalysis_fps = 15\nstart_after_s = 0.1\n")
        let csv = directory.path + "/tree.csv"
        let images = directory.path + "/debug"
        let ctl = try ChildProcess(
            "porchlightctl",
            arguments: [
                "motion", "analyze", "\(root)/../shared/footage/tree_640x480.mjpeg", "--config", config, "--csv", csv,
                "--debug-dir", images,
            ])
        #expect(try await ctl.runToExit(timeout: .seconds(60)) == 0, "stderr:\n\(ctl.stderr)")
        #expect(ctl.stdout == "event 53 67\n")
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "frame,motion,changed_fraction,boxes")
        #expect(lines.count == 69)
        #expect(lines[54].hasPrefix("53,1,"))
        #expect(lines[40].hasPrefix("39,0,"))
        let pgm = try #require(FileManager.default.contents(atPath: images + "/frame-00053.pgm"))
        #expect(pgm.starts(with: Array("P5\n160 120\n255\n".utf8)))
    }
}

@Suite("The outbox under kill -9", .timeLimit(.minutes(10)))
struct OutboxKillTests {
    @Test(
        "killing the daemon with SIGKILL during a burst of rings leaves the outbox whole, ordered and without duplicates"
    )
    func killDuringBurst() async throws {
        let directory = try TemporaryDirectory()
        let config = validConfig(in: directory, button: "ring_window_s = 0")
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5 {
            let (daemon, path) = try await startDaemon(in: directory, config: config)
            let rings = Int.random(in: 3...8, using: &rng)
            for _ in 0..<rings {
                let ctl = try ChildProcess("porchlightctl", arguments: ["ring", "--config", path])
                #expect(try await ctl.runToExit() == 0)
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...40, using: &rng)))
            }
            daemon.signal(SIGKILL)
            _ = await daemon.exitStatus(within: .seconds(5))
        }
        let outbox = try Outbox(path: directory.path + "/outbox.sqlite")
        let events = try outbox.pending(limit: 1000).map(\.event)
        #expect(events.count >= 5, "stored \(events.count) rings")
        #expect(events.allSatisfy { $0.kind == .ring })
        #expect(Set(events.map(\.key)).count == events.count)
        #expect(events.map(\.eventID) == events.map(\.eventID).sorted())
    }
}

@Suite("Doorbell and sync module, as installed", .timeLimit(.minutes(10)))
struct PairAndSyncTests {
    @Test("SIGKILL at random points during rings and clips, 20 times: the sync module ends with everything, once")
    func killDuringUploads() async throws {
        let setup = try await PairedSetup()
        try setup.sync.start()
        defer { setup.sync.signal(SIGTERM) }
        #expect(await setup.sync.notify.waitFor("READY=1") != nil, "stderr:\n\(setup.sync.stderr)")
        let directory = setup.directory
        let doorbell = directory.path + "/doorbell"
        let config = try setup.cameraDoorbellConfig(footage: "\(footageDirectory)/vtest_640x480.mjpeg")
        let configPath = try directory.write("porchlight.toml", config)
        try await setup.pair(configPath: configPath)
        // Media is sealed from the first event: without a pinned key it would stay on the doorbell.
        _ = try setup.ownerKeys()

        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let daemon = try ChildProcess("porchlightd", arguments: ["--config", configPath])
            try daemon.start()
            try #require(await daemon.notify.waitFor("READY=1") != nil, "stderr:\n\(daemon.stderr)")
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let ring = try ChildProcess("porchlightctl", arguments: ["ring", "--config", configPath])
                #expect(try await ring.runToExit() == 0)
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...700, using: &rng)))
            }
            daemon.signal(SIGKILL)
            #expect(await daemon.exitStatus(within: .seconds(5)) != nil)
        }

        // A last run without the camera drains whatever the kills left behind.
        let drain = config.replacingOccurrences(of: "source = \"file\"", with: "enabled = false\nsource = \"file\"")
        try drain.write(toFile: configPath, atomically: true, encoding: .utf8)
        let daemon = try ChildProcess("porchlightd", arguments: ["--config", configPath])
        try daemon.start()
        let outbox = try Outbox(path: doorbell + "/outbox.sqlite")
        let left = { () -> [String] in
            let media = ["snapshots", "clips"].flatMap { folder in
                ((try? FileManager.default.contentsOfDirectory(atPath: "\(doorbell)/media/\(folder)")) ?? [])
                    .map { "\(folder)/\($0)" }
            }
            let events: String
            do {
                let pending = try outbox.backlog().pending
                events = pending == 0 ? "" : "\(pending) events"
            } catch {
                events = "outbox unreadable: \(error)"
            }
            return media + (events.isEmpty ? [] : [events])
        }
        let drained = await eventually(timeout: .seconds(120)) { left().isEmpty }
        #expect(
            drained,
            """
            left on the doorbell: \(left())
            doorbell's stderr:
            \(daemon.stderr)
            sync module's stderr:
            \(setup.sync.stderr.suffix(4000))
            """)
        #expect(await daemon.terminate() == 0, "stderr:\n\(daemon.stderr.suffix(3000))")

        // Every event the doorbell produced is at the sync module exactly once, in order.
        let produced = try outbox.records(limit: 10_000).map(\.event)
        let stored = try setup.store().events(after: 0, limit: 10_000).map(\.event)
        #expect(produced.filter { $0.kind == .ring }.count >= 20)
        #expect(stored.map(\.key) == produced.map(\.key))
        #expect(Set(stored.map(\.key)).count == stored.count)
        // Every media item is complete, matches its hash, and clips parse.
        let rings = stored.filter { $0.kind == .ring }
        let media = try rings.flatMap { try setup.store().media(forEvent: $0.eventID) }
        #expect(media.count >= rings.count, "each ring has a snapshot and a clip, but for a kill before either")
        let files = try MediaFiles(directory: directory.path + "/sync/media", maxBytes: 0)
        for item in media {
            #expect(item.completedAt != nil)
            #expect(try sha256Hex(ofFile: files.path(item)) == item.sha256)
        }
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: directory.path + "/sync/media")
        #expect(leftovers.filter { $0.hasSuffix(".part") }.isEmpty)
    }

    @Test(
        "a compromised sync module substitutes an owner key: the running doorbell refuses it and seals for the owner's")
    func substitutedKeyRefused() async throws {
        let setup = try await PairedSetup()
        try setup.sync.start()
        defer { setup.sync.signal(SIGTERM) }
        #expect(await setup.sync.notify.waitFor("READY=1") != nil, "stderr:\n\(setup.sync.stderr)")
        let configPath = try setup.directory.write(
            "porchlight.toml",
            try setup.doorbellConfig("[button]\nsource = \"simulated\"\n[camera]\nenabled = false"))
        try await setup.pair(configPath: configPath)
        let keyring = try setup.ownerKeys()
        // The sync module's own key, written into its table past the API's checks, as malware on the
        // hub would: unsigned, and one signed by a recovery key of its own.
        let intruder = OwnerKey()
        let mallory = OwnerKey().publicKey
        let forged = try KeyEndorsement.sign(mallory.x963, with: intruder).base64EncodedString()
        let database = try DatabaseQueue(path: setup.directory.path + "/sync/sync.sqlite")
        try await database.write { db in
            for (id, label, point, signature) in [
                (intruder.publicKey.id, "recovery", intruder.publicKey.base64, String?.none),
                (mallory.id, "phone", mallory.base64, forged),
            ] {
                try db.execute(
                    sql:
                        "INSERT INTO ownerKey (id, owner, label, publicKey, signature, createdAt) VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [id, "mallory", label, point, signature, 9_999_999_999_999])
            }
        }
        let daemon = try ChildProcess("porchlightd", arguments: ["--config", configPath])
        try daemon.start()
        defer { daemon.signal(SIGTERM) }
        try #require(await daemon.notify.waitFor("READY=1") != nil, "stderr:\n\(daemon.stderr)")
        #expect(
            await eventually(timeout: .seconds(30)) {
                daemon.stderr.components(separatedBy: "Refused an owner key").count - 1 >= 2
            }, "stderr:\n\(daemon.stderr)")
        let keys = OwnerKeysFile(stateDirectory: setup.directory.path + "/doorbell")
        #expect(Set(keys.recipients()?.map(\.id) ?? []) == Set(keyring.wire.map(\.id)))
        #expect(keys.pinnedRecovery() == keyring.recovery.publicKey.base64)
        let status = try ChildProcess("porchlightctl", arguments: ["status", "--config", configPath])
        #expect(try await status.runToExit() == 0)
        #expect(
            !status.stdout.contains(mallory.id) && !status.stdout.contains(intruder.publicKey.id), "\(status.stdout)")
    }

    @Test("pairing offers the owner's recovery key; only the fingerprint the owner gives pins it, there or later")
    func pairingPinsRecovery() async throws {
        let setup = try await PairedSetup()
        try setup.sync.start()
        defer { setup.sync.signal(SIGTERM) }
        #expect(await setup.sync.notify.waitFor("READY=1") != nil, "stderr:\n\(setup.sync.stderr)")
        let keyring = try setup.registerOwnerKeys()
        let configPath = try setup.directory.write(
            "porchlight.toml",
            try setup.doorbellConfig("[button]\nsource = \"simulated\"\n[camera]\nenabled = false"))
        let keys = OwnerKeysFile(stateDirectory: setup.directory.path + "/doorbell")
        // The owner reads another fingerprint off the Keys page than the sync module offers.
        let intruder = OwnerPublicKey.fingerprint(ofID: OwnerKey().publicKey.id)
        let wrong = try await setup.pair(configPath: configPath, extra: ["--recovery-fingerprint", intruder])
        #expect(wrong.process.terminationStatus == 1)
        #expect(wrong.stderr.contains("not pinned") && wrong.stderr.contains(keyring.fingerprint), "\(wrong.stderr)")
        #expect(keys.pinnedRecovery() == nil && keys.recipients() == nil)
        // Later, on the doorbell's console: a fingerprint nothing offered pins nothing; the owner's does.
        let stranger = try ChildProcess(
            "porchlightctl", arguments: ["keys", "trust", intruder, "--config", configPath])
        #expect(try await stranger.runToExit() == 1)
        #expect(keys.pinnedRecovery() == nil)
        let trust = try ChildProcess(
            "porchlightctl", arguments: ["keys", "trust", keyring.fingerprint, "--config", configPath])
        #expect(try await trust.runToExit() == 0, "\(trust.stderr)")
        #expect(keys.pinnedRecovery() == keyring.recovery.publicKey.base64)
        #expect(keys.recipients()?.map(\.id) == [keyring.recovery.publicKey.id])
        // Reset on the doorbell: held again.
        let reset = try ChildProcess("porchlightctl", arguments: ["keys", "reset", "--yes", "--config", configPath])
        #expect(try await reset.runToExit() == 0)
        #expect(keys.pinnedRecovery() == nil && keys.recipients() == nil)
    }

    @Test(
        "pair-code, then porchlightctl pair with the fingerprint while the daemon runs: rings before and after reach the sync module once each"
    )
    func pairAndRing() async throws {
        let setup = try await PairedSetup()
        let directory = setup.directory
        let sync = setup.sync
        try sync.start()
        defer { sync.signal(SIGTERM) }
        #expect(await sync.notify.waitFor("READY=1") != nil, "stderr:\n\(sync.stderr)")

        // The longest ring window: four pairings run between the first ring and the others, which
        // in a loaded parallel run took more than the default 10 s.
        let doorConfig = validConfig(in: directory, button: "ring_window_s = 600")
        let (daemon, configPath) = try await startDaemon(in: directory, config: doorConfig)
        let early = try ChildProcess("porchlightctl", arguments: ["ring", "--config", configPath])
        #expect(try await early.runToExit() == 0)
        let wrong = try await setup.pair(configPath: configPath, fingerprint: "00:11")
        #expect(wrong.process.terminationStatus == 1)
        #expect(wrong.stderr.contains("refusing to pair"))
        // A man in the middle shows his own certificate: the code names another one, so pairing
        // with the code alone stops. The secret alone, with no fingerprint, is refused too.
        let intercepted = try await setup.pair(configPath: configPath, typeFingerprint: false) { code in
            PairingCode.printed(secret: String(code.prefix(9)), fingerprint: String(repeating: "AB:", count: 31) + "AB")
        }
        #expect(intercepted.process.terminationStatus == 1)
        #expect(intercepted.stderr.contains("not the one the pairing code names"), "\(intercepted.stderr)")
        let secretOnly = try await setup.pair(configPath: configPath, typeFingerprint: false) { String($0.prefix(9)) }
        #expect(secretOnly.process.terminationStatus == 1)
        #expect(secretOnly.stderr.contains("type the whole code"), "\(secretOnly.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/pairing.json"))
        // The whole code, lowercase and without its dashes, and no fingerprint typed: paired.
        let pair = try await setup.pair(configPath: configPath, typeFingerprint: false) {
            $0.lowercased().replacingOccurrences(of: "-", with: "")
        }
        #expect(pair.process.terminationStatus == 0, "stderr:\n\(pair.stderr)")

        for _ in 0..<2 {
            let ring = try ChildProcess("porchlightctl", arguments: ["ring", "--config", configPath])
            #expect(try await ring.runToExit() == 0)
        }
        let synced = try SQLiteSyncStore(path: "\(directory.path)/sync/sync.sqlite")
        #expect(
            await eventually(timeout: .seconds(30)) { ((try? synced.events(after: 0, limit: 100)) ?? []).count >= 3 })
        let events = try synced.events(after: 0, limit: 100)
        #expect(events.count == 3)
        // Within the ring window the later presses are counted on the first ring.
        #expect(events.map(\.event.kind) == [EventKind.ring, .ringPressCount, .ringPressCount])
        #expect(events.map(\.event.pressCount) == [1, 2, 3])
        // The end of the log, where a slow shutdown shows (CI keeps a failure's first and last lines).
        #expect(await daemon.terminate() == 0, "stderr, the end:\n\(daemon.stderr.suffix(4000))")
    }
}

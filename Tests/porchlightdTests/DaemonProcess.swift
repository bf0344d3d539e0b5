import DoorbellTestKit
import SyncStorage
import Uplink
import Foundation
import Testing

/// The directory holding the built executables: the test bundle sits beside them.
let productsDirectory: String = {
    if let override = ProcessInfo.processInfo.environment["PORCHLIGHT_BIN_DIR"] { return override }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return (exe as NSString).deletingLastPathComponent
}()

/// A built executable run as a child process with its own notify socket and output files.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let directory: TemporaryDirectory
    let notify: DatagramRecorder
    let stderrPath: String
    let started = ContinuousClock.now

    init(_ executable: String, arguments: [String], environment: [String: String] = [:], input: String? = nil) throws {
        directory = try TemporaryDirectory()
        notify = try DatagramRecorder()
        stderrPath = directory.path + "/stderr.log"
        let stdoutPath = directory.path + "/stdout.log"
        for path in [stderrPath, stdoutPath] {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw ChildProcessError.cannotCreate(path)
            }
        }
        // A built product by name, or any program by its path.
        process.executableURL = URL(
            fileURLWithPath: executable.hasPrefix("/") ? executable : "\(productsDirectory)/\(executable)")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = notify.path
        env.removeValue(forKey: "JOURNAL_STREAM")
        env.removeValue(forKey: "WATCHDOG_USEC")
        env.merge(environment) { _, new in new }
        process.environment = env
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        if let input {
            let inputPath = directory.path + "/stdin"
            try input.write(toFile: inputPath, atomically: true, encoding: .utf8)
            process.standardInput = FileHandle(forReadingAtPath: inputPath)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
    }

    func start() throws {
        try process.run()
    }

    /// Runs to completion and returns the exit status (nil if still running after `timeout`: a
    /// bound for a loaded machine, where a `porchlightctl ring` once took over 20 s).
    func runToExit(timeout: Duration = .seconds(60)) async throws -> Int32? {
        try start()
        return await exitStatus(within: timeout)
    }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// The exit status, or `nil` if the process is still running after `timeout`.
    func exitStatus(within timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return process.terminationStatus
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    var stdout: String { (try? String(contentsOfFile: directory.path + "/stdout.log", encoding: .utf8)) ?? "" }

    /// A child still running is asked to stop, and killed if it has not within 10 s, so that a
    /// failing test cannot leave it behind (or hang on it).
    deinit {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<1000 where process.isRunning { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// Writes `text` (or a valid configuration) as the config file, starts porchlightd on it and waits
/// for READY=1. Returns the daemon and the config path.
func startDaemon(
    in directory: TemporaryDirectory, config text: String? = nil, environment: [String: String] = [:]
) async throws -> (ChildProcess, String) {
    let config = try directory.write("porchlight.toml", text ?? validConfig(in: directory))
    let daemon = try ChildProcess("porchlightd", arguments: ["--config", config], environment: environment)
    try daemon.start()
    try #require(await daemon.notify.waitFor("READY=1") != nil, "no READY=1; stderr:\n\(daemon.stderr)")
    return (daemon, config)
}

extension ChildProcess {
    /// SIGTERM, then the exit status, or nil if the daemon is still running after 20 s. It gives
    /// its services 4 s to stop gracefully before it cancels them; the rest is room for a loaded
    /// CI machine, where a test took 15 times as long as alone.
    func terminate() async -> Int32? {
        signal(SIGTERM)
        return await exitStatus(within: .seconds(20))
    }
}

enum ChildProcessError: Error {
    case cannotCreate(String)
}

/// A configuration that the daemon accepts on a machine with no doorbell hardware, keeping its
/// run-time files in `directory`; `button` adds lines to the [button] table.
func validConfig(in directory: TemporaryDirectory, button: String = "") -> String {
    """
    [button]
    source = "simulated"
    \(button)
    [camera]
    enabled = false
    [storage]
    state_directory = "\(directory.path)"
    runtime_directory = "\(directory.path)"
    [log]
    target = "console"
    level = "debug"
    """
}

/// A sync module run from its binary on a random port, and a doorbell config paired with it.
struct PairedSetup {
    let directory: TemporaryDirectory
    let sync: ChildProcess
    let syncConfig: String
    let port: Int

    init() async throws {
        directory = try TemporaryDirectory()
        port = 20_000 + Int.random(in: 0..<20_000)
        syncConfig = try directory.write(
            "sync.toml",
            "[server]\nhost = \"127.0.0.1\"\nport = \(port)\n[storage]\nstate_directory = \"\(directory.path)/sync\"\n"
        )
        sync = try ChildProcess("porchlight-sync", arguments: ["serve", "--config", syncConfig])
    }

    /// Pairs the doorbell whose config is at `configPath` with a new code, checking the fingerprint
    /// pair-code printed (or `fingerprint`, to see a wrong one refused). Returns the finished
    /// `porchlightctl pair`.
    /// `typeFingerprint: false` pairs with the code alone, as the README does; `alterCode`
    /// changes the code before it is typed.
    @discardableResult
    func pair(
        configPath: String, fingerprint override: String? = nil, typeFingerprint: Bool = true,
        extra: [String] = [], alterCode: (String) -> String = { $0 }
    ) async throws -> ChildProcess {
        let code = try ChildProcess("porchlight-sync", arguments: ["pair-code", "--config", syncConfig])
        #expect(try await code.runToExit() == 0)
        let lines = code.stdout.split(separator: "\n")
        let pairingCode = try #require(lines.first?.split(separator: " ").dropFirst(2).first)
        let fingerprint = try #require(lines.dropFirst().first?.split(separator: " ").last)
        let typed = alterCode(String(pairingCode))
        var arguments = [
            "pair", "--config", configPath, "--sync", "https://localhost:\(port)", "--code", typed,
        ]
        if typeFingerprint { arguments += ["--fingerprint", override ?? "\(fingerprint)"] }
        arguments += extra
        let pair = try ChildProcess("porchlightctl", arguments: arguments)
        let status = try await pair.runToExit()
        if override == nil && typed == pairingCode && extra.isEmpty {
            #expect(status == 0, "stderr:\n\(pair.stderr)")
        }
        return pair
    }

    /// A camera doorbell on the bundled porch footage with its sound off and `extra` config, paired
    /// with this sync module and started (READY=1).
    func startCameraDoorbell(extra: String = "") async throws -> (daemon: ChildProcess, configPath: String) {
        let configPath = try directory.write(
            "porchlight.toml",
            try cameraDoorbellConfig(footage: "\(repositoryRoot)/demo/porch_640x480.mjpeg")
                + "\n[audio]\nenabled = false\n" + extra)
        try await pair(configPath: configPath)
        let daemon = try ChildProcess("porchlightd", arguments: ["--config", configPath])
        try daemon.start()
        try #require(await daemon.notify.waitFor("READY=1") != nil, "stderr:\n\(daemon.stderr)")
        return (daemon, configPath)
    }

    func store() throws -> SQLiteSyncStore { try SQLiteSyncStore(path: "\(directory.path)/sync/sync.sqlite") }

    /// The owner's keys registered at the sync module as the page does it.
    func registerOwnerKeys() throws -> OwnerKeyring {
        let keyring = OwnerKeyring()
        let store = try store()
        for key in keyring.wire {
            _ = try store.addOwnerKey(
                owner: BrowserTests.owner, label: key.label, publicKey: key.publicKey, signature: key.signature,
                now: unixMilliseconds())
        }
        return keyring
    }

    /// The owner's keys registered at the sync module as the page does it, and the recovery key
    /// pinned on the doorbell in `doorbell/`, as `porchlightctl pair --recovery-fingerprint` leaves it.
    func ownerKeys() throws -> OwnerKeyring {
        let keyring = try registerOwnerKeys()
        try OwnerKeysFile(stateDirectory: directory.path + "/doorbell").trust(
            point: keyring.recovery.publicKey.base64, fingerprint: keyring.fingerprint)
        return keyring
    }

    /// A doorbell on a looping file camera with short clips and quick retries, its state in
    /// `doorbell/` beside the sync module's.
    func cameraDoorbellConfig(footage: String) throws -> String {
        try doorbellConfig(
            """
            [device]
            name = "Test porch"
            [button]
            source = "simulated"
            ring_window_s = 0
            [camera]
            source = "file"
            file = "\(footage)"
            fps = 10
            loop = true
            preroll_s = 1
            postroll_s = 1
            [motion]
            analysis_fps = 2
            """)
    }

    /// A doorbell on the demo's footage with a file-backed sound card (a steady tone at the
    /// microphone) and one quick reply of a known constant (`BrowserTests.replyLevel`), its config
    /// written to `porchlight.toml`. Run it with `ALSA_CONFIG_PATH` set to `ALSAFiles`'.
    func soundDoorbell() throws -> (sound: ALSAFiles, configPath: String) {
        let sound = try ALSAFiles(capture: (0..<16_000 * 60).map { Int16(8000 * sin(Double($0) * 0.2)) })
        let reply = directory.path + "/leave-it.wav"
        try Data(BrowserTests.wav(constant: BrowserTests.replyLevel, samples: 3200))
            .write(to: URL(fileURLWithPath: reply))
        let audio = """

            [chime]
            volume = 100
            [audio]
            playback_device = "\(sound.playbackDevice)"
            capture_device = "\(sound.captureDevice)"
            [[audio.quick_replies]]
            name = "Leave it at the door"
            file = "\(reply)"
            """
        let config = try cameraDoorbellConfig(footage: "\(repositoryRoot)/demo/porch_640x480.mjpeg") + audio
        return (sound, try directory.write("porchlight.toml", config))
    }

    /// A doorbell with `sections`, quick retries to the sync module, its state in `doorbell/`
    /// beside the sync module's, and logs on the console.
    func doorbellConfig(_ sections: String) throws -> String {
        let doorbell = directory.path + "/doorbell"
        try FileManager.default.createDirectory(atPath: doorbell, withIntermediateDirectories: true)
        return sections + """

            [sync]
            retry_initial_s = 0.1
            retry_max_s = 1
            [storage]
            state_directory = "\(doorbell)"
            runtime_directory = "\(doorbell)"
            [log]
            target = "console"
            level = "info"
            """
    }

    /// Adds the test owner and starts the sync module; returns once it is ready.
    func startWithOwner() async throws {
        let add = try ChildProcess(
            "porchlight-sync",
            arguments: ["owner", "add", BrowserTests.owner, "--password-stdin", "--config", syncConfig],
            input: BrowserTests.password + "\n")
        #expect(try await add.runToExit(timeout: .seconds(30)) == 0, "stderr:\n\(add.stderr)")
        try sync.start()
        try #require(await sync.notify.waitFor("READY=1") != nil, "stderr:\n\(sync.stderr)")
    }
}

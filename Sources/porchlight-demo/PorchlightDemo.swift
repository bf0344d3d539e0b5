import ArgumentParser
import Config
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import SyncModule
import SyncStorage
import SyncProtocol
import Uplink
import WebUI

#if canImport(Glibc)
    import Glibc
#endif

/// The README's demo: an embedded sync module with its web page on localhost, an owner login, a
/// doorbell paired with it, and the real `porchlightd` (built beside this program) started on the
/// demo configuration: the bundled footage as its camera and a simulated button.
@main
struct PorchlightDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "porchlight-demo",
        abstract: "Run a doorbell on the bundled footage with an embedded sync module and its web page.")

    @Option(help: "The doorbell's demo configuration.")
    var config = "config/demo.toml"
    @Option(help: "The HTTPS port of the embedded sync module (0 picks a free one).")
    var port = 8443
    @Option(help: "Where the embedded sync module keeps its state (wiped at start).")
    var syncState = "/tmp/porchlight-demo-sync"

    static let owner = "demo"
    static let password = "porchlight-demo"

    func run() async throws {
        var logger = Logger(label: "porchlight-demo")
        logger.logLevel = .notice
        let doorbell: Config
        do {
            doorbell = try ConfigLoader.load(path: config)
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n".utf8))
            throw ExitCode(78)
        }
        let daemon = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("porchlightd").path
        guard FileManager.default.isExecutableFile(atPath: daemon) else {
            FileHandle.standardError.write(
                Data("porchlight-demo: build the daemon first: swift build --product porchlightd\n".utf8))
            throw ExitCode(69)
        }

        // A fresh start: the demo's doorbell pairs anew with a new sync module each time.
        for directory in [syncState, doorbell.storage.stateDirectory] {
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        let bound = Mutex(0)
        // The same assembly as `porchlight-sync serve`, retention included, on loopback.
        let hub = try SyncModuleAssembly(
            .init(stateDirectory: syncState, hostnames: ["localhost"], host: "127.0.0.1", port: port),
            logger: logger
        ) { port, _ in bound.withLock { $0 = port } }
        let (store, identity) = (hub.store, hub.identity)
        try store.setOwner(Self.owner, passwordHash: Sessions.hashPassword(Self.password))
        let server = ServiceGroup(
            configuration: .init(services: hub.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await server.run() }
            while bound.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
            let url = "https://localhost:\(bound.withLock { $0 })"
            let code = PairingCode.make()
            try store.addPairingCode(code, expiresAt: unixMilliseconds() + 60_000)
            _ = try await PairingClient.pair(
                url: url, code: code, name: doorbell.device.name, expectedFingerprint: identity.fingerprint,
                stateDirectory: doorbell.storage.stateDirectory)

            var environment = ProcessInfo.processInfo.environment
            environment["ALSA_CONFIG_PATH"] = try DemoSoundCard.prepare()
            let child = try Self.startOwned(daemon, arguments: ["--config", config], environment: environment)
            // Every way out of here stops the daemon too (a SIGKILL of the demo: see `startOwned`).
            defer {
                if child.isRunning { kill(child.processIdentifier, SIGTERM) }
                child.waitUntilExit()
            }
            let banner = """

                Porchlight demo
                  Web page:  \(url)/   (log in as "\(Self.owner)", password "\(Self.password)")
                             The certificate is the sync module's own; its SHA-256 fingerprint is
                             \(identity.fingerprint)
                  Doorbell:  \(doorbell.device.name), camera on \(doorbell.camera.file ?? "-"), a visitor every 20 s
                  First:     log in: the page leads you to make your key and recovery key. Until the
                             doorbell pins the recovery key it keeps its pictures and sends none:
                             swift run porchlightctl keys trust FINGERPRINT --config \(config)
                             (the Keys page shows the fingerprint once the key is made)
                  Ring now:  swift run porchlightctl ring --config \(config)
                  Sound:     the door's speaker is the file \(DemoSoundCard.speaker)
                             (aplay -f S16_LE -r 16000 -c 1 FILE); its microphone is a synthetic visitor
                  Stop:      Ctrl-C

                """
            FileHandle.standardOutput.write(Data(banner.utf8))
            // The daemon stops with the demo (Ctrl-C reaches both); the demo stops if the daemon does.
            tasks.addTask {
                while child.isRunning { try await Task.sleep(for: .milliseconds(200)) }
                FileHandle.standardError.write(Data("porchlight-demo: the doorbell daemon stopped.\n".utf8))
                await server.triggerGracefulShutdown()
            }
            _ = try await tasks.next()
            await server.triggerGracefulShutdown()
            tasks.cancelAll()
        }
    }

    /// Starts `executable` as the demo's own child: through util-linux's `setpriv --pdeathsig
    /// TERM`, so that the kernel sends it SIGTERM when the thread that started it ends, also when
    /// the demo is killed outright. That thread is one of its own, which waits for the child and
    /// so lives exactly as long (a pool thread could end early and take the daemon with it).
    static func startOwned(_ executable: String, arguments: [String], environment: [String: String]) throws
        -> Process
    {
        let setpriv = "/usr/bin/setpriv"
        let child = Process()
        if FileManager.default.isExecutableFile(atPath: setpriv) {
            child.executableURL = URL(fileURLWithPath: setpriv)
            child.arguments = ["--pdeathsig", "TERM", "--", executable] + arguments
        } else {
            FileHandle.standardError.write(
                Data("porchlight-demo: no \(setpriv); the daemon outlives a demo that is killed outright.\n".utf8))
            child.executableURL = URL(fileURLWithPath: executable)
            child.arguments = arguments
        }
        child.environment = environment
        let started = Mutex<Result<Void, any Error>>(.success(()))
        let ran = DispatchSemaphore(value: 0)
        let thread = Thread {
            do {
                try child.run()
            } catch {
                started.withLock { $0 = .failure(error) }
                ran.signal()
                return
            }
            ran.signal()
            child.waitUntilExit()
        }
        thread.name = "porchlight-demo-daemon"
        thread.start()
        ran.wait()
        try started.withLock { $0 }.get()
        return child
    }
}

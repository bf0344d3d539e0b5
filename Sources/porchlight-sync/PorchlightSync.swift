import ArgumentParser
import Config
import Foundation
import Logging
import ServiceLifecycle
import SyncModule
import Systemd

/// The sync module: the owner's own hub that stores what the doorbells push.
@main
struct PorchlightSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "porchlight-sync",
        abstract: "The Porchlight sync module: stores what your doorbells push, for you only.",
        subcommands: [Serve.self, PairCode.self, Devices.self, Revoke.self, CheckConfig.self],
        defaultSubcommand: Serve.self
    )
}

struct ConfigPath: ParsableArguments {
    @Option(name: .long, help: "The sync module's configuration file.")
    var config = "/etc/porchlight/sync.toml"

    func load() throws -> SyncModuleConfig {
        do {
            return try ConfigLoader.loadSyncModule(path: config)
        } catch {
            printError(error.description)
            throw ExitCode(78)
        }
    }

    /// The configuration and the store in its state directory (created owner-only if missing).
    func open() throws -> (SyncModuleConfig, SQLiteSyncStore) {
        let settings = try load()
        try FileManager.default.createDirectory(
            atPath: settings.stateDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return (settings, try SQLiteSyncStore(path: settings.stateDirectory + "/sync.sqlite"))
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve doorbells over HTTPS (the default).")

    @OptionGroup var options: ConfigPath

    func run() async throws {
        let (settings, store) = try options.open()
        let environment = processEnvironment()
        LoggingSetup.bootstrap(
            target: LogDestination.choose("auto", environment: environment), identifier: "porchlight-sync",
            level: SharedLogLevel(settings.logLevel.swiftLogLevel))
        let logger = Logger(label: "porchlight-sync")
        let identity = try ServerIdentity.loadOrCreate(
            directory: settings.stateDirectory, hostnames: settings.hostnames)
        let notifier = try Notifier.fromEnvironment()
        let app = try SyncServer.application(
            api: SyncAPI(
                store: store,
                media: try MediaFiles(
                    directory: settings.stateDirectory + "/media", maxBytes: settings.mediaMaxBytes),
                certificatePEM: identity.certificatePEM, logger: logger),
            identity: identity,
            host: settings.host, port: settings.port,
            logger: logger
        ) { port in
            logger.notice("Listening.", metadata: ["port": "\(port)", "fingerprint": "\(identity.fingerprint)"])
            try? notifier.notify(["READY=1", "STATUS=Listening on port \(port)."])
        }
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        try? notifier.notify(["STOPPING=1"])
    }
}

/// Prints a one-time pairing code and the certificate fingerprint the doorbell will pin.
struct PairCode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pair-code", abstract: "Make a one-time code to pair a doorbell.")

    @OptionGroup var options: ConfigPath

    func run() throws {
        let (settings, store) = try options.open()
        let identity = try ServerIdentity.loadOrCreate(
            directory: settings.stateDirectory, hostnames: settings.hostnames)
        let code = PairingCode.make()
        let lifetime = settings.pairingCodeLifetime
        try store.addPairingCode(
            code, expiresAt: SyncAPI.unixMilliseconds() + Int64(lifetime / .milliseconds(1)))
        print("Pairing code: \(code) (valid for \(Int(lifetime / .seconds(60))) minutes, once)")
        print("Certificate fingerprint (SHA-256): \(identity.fingerprint)")
        print(
            "On the doorbell: porchlightctl pair --sync https://\(settings.hostnames[0]):\(settings.port) --code \(code)"
        )
    }
}

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List paired doorbells.")

    @OptionGroup var options: ConfigPath

    func run() throws {
        let (_, store) = try options.open()
        for device in try store.devices() {
            let state = device.revokedAt == nil ? "active" : "revoked"
            print("\(device.id)  \(state)  \(device.name)")
        }
    }
}

struct Revoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Revoke a doorbell: it is refused from now on (a lost or replaced device).")

    @OptionGroup var options: ConfigPath
    @Argument(help: "The device id, from `porchlight-sync devices`.")
    var device: String

    func run() throws {
        let (_, store) = try options.open()
        guard try store.device(device) != nil else {
            printError("porchlight-sync: no device \(device)")
            throw ExitCode(1)
        }
        try store.revoke(device, now: SyncAPI.unixMilliseconds())
        print("Revoked \(device).")
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Check the configuration: exit 0 if valid, 78 if not.")

    @OptionGroup var options: ConfigPath

    func run() throws {
        _ = try options.load()
        print("\(options.config): configuration is valid")
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

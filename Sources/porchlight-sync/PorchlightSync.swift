import ArgumentParser
import Config
import DoorbellCore
import Foundation
import Logging
import ServiceLifecycle
import SyncModule
import SyncStorage
import SyncProtocol
import Systemd
import WebUI

/// The sync module: the owner's own hub that stores what the doorbells push.
@main
struct PorchlightSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "porchlight-sync",
        abstract: "The Porchlight sync module: stores what your doorbells push, for you only.",
        discussion: """
            The owner's hub: stores the events, sealed media and access logs that paired doorbells \
            push, and serves the owner's web page over HTTPS with its own certificate. It relays \
            nothing to anyone else. Runs under systemd as porchlight-sync.service with a dynamic \
            user; run the other commands as that user (systemd-run -p DynamicUser=yes \
            -p User=porchlight-sync -p StateDirectory=porchlight-sync ...).

            Files: /etc/porchlight/sync.toml (the configuration), /var/lib/porchlight-sync \
            (database, media, certificate, access-log key).

            Exit status: 78 invalid configuration. See porchlightd(8) and porchlightctl(1).
            """,
        subcommands: [Serve.self, PairCode.self, Devices.self, Revoke.self, Owner.self, CheckConfig.self],
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
        let settings = try options.load()
        let environment = processEnvironment()
        LoggingSetup.bootstrap(
            target: LogDestination.choose("auto", environment: environment), identifier: "porchlight-sync",
            level: SharedLogLevel(settings.logLevel.swiftLogLevel))
        let logger = Logger(label: "porchlight-sync")
        let notifier = try Notifier.fromEnvironment()
        let hub = try SyncModuleAssembly(
            .init(
                stateDirectory: settings.stateDirectory, hostnames: settings.hostnames, host: settings.host,
                port: settings.port, mediaMaxBytes: settings.mediaMaxBytes, retentionDays: settings.retentionDays,
                liveViewMax: settings.liveViewMax, metricsToken: settings.metricsToken),
            logger: logger
        ) { port, fingerprint in
            logger.notice("Listening.", metadata: ["port": "\(port)", "fingerprint": "\(fingerprint)"])
            try? notifier.notify(["READY=1", "STATUS=Listening on port \(port)."])
        }
        if try hub.store.owners().isEmpty {
            logger.notice("No owner account yet: add one with `porchlight-sync owner add NAME` to use the web page.")
        }
        let group = ServiceGroup(
            configuration: .init(
                services: hub.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
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
        let secret = PairingCode.make()
        let lifetime = settings.pairingCodeLifetime
        try store.addPairingCode(
            secret, expiresAt: unixMilliseconds() + Int64(lifetime / .milliseconds(1)))
        // The code carries the certificate's fingerprint too, so the doorbell checks it unasked.
        let code = PairingCode.printed(secret: secret, fingerprint: identity.fingerprint)
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
        try store.revoke(device, now: unixMilliseconds())
        try store.appendAccess(
            at: unixMilliseconds(), actor: "owner (command line)", action: "revoke", device: device,
            detail: "revoked with porchlight-sync revoke", source: "porchlight-sync")
        print("Revoked \(device); a running sync module ends its connections within a second.")
    }
}

struct Owner: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the owner accounts of the web page.", subcommands: [OwnerAdd.self, OwnerList.self])
}

struct OwnerAdd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add an owner, or set a new password (which ends their sessions).")

    @OptionGroup var options: ConfigPath
    @Argument(help: "The owner's login name.")
    var name: String
    @Flag(help: "Read the password from the first line of standard input instead of asking.")
    var passwordStdin = false

    func run() throws {
        let (_, store) = try options.open()
        guard !name.isEmpty, name.count <= 64, !name.contains(where: \.isWhitespace) else {
            printError("porchlight-sync: a name is 1 to 64 characters without spaces")
            throw ExitCode(64)
        }
        let password: String
        if passwordStdin {
            password = readLine(strippingNewline: true) ?? ""
        } else {
            guard let first = getpass("Password for \(name): ").map({ String(cString: $0) }),
                let second = getpass("Again: ").map({ String(cString: $0) }), first == second
            else {
                printError("porchlight-sync: the passwords differ")
                throw ExitCode(1)
            }
            password = first
        }
        guard password.count >= 10 else {
            printError("porchlight-sync: use a password of at least 10 characters")
            throw ExitCode(64)
        }
        try store.setOwner(name, passwordHash: Sessions.hashPassword(password))
        try store.appendAccess(
            at: unixMilliseconds(), actor: "console", action: "owner-set", device: "", detail: name,
            source: "porchlight-sync owner add")
        print("Owner \(name) can now log in.")
    }
}

struct OwnerList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the owner accounts.")

    @OptionGroup var options: ConfigPath

    func run() throws {
        let (_, store) = try options.open()
        for owner in try store.owners() { print(owner) }
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

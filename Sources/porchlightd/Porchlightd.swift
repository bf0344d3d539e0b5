import ArgumentParser
import Audio
import Config
import DoorbellAssembly
import LinuxGPIO
import DoorbellCore
import HomeAutomation
import LocalControl
import MQTT
import Logging
import ServiceLifecycle
import Systemd
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

/// The doorbell daemon: loads the configuration, composes the pipelines as services in one
/// group, and runs until SIGTERM. Exit 78 (EX_CONFIG) means "fix the configuration": systemd
/// does not restart on it.
@main
struct Porchlightd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "porchlightd",
        abstract: "The Porchlight doorbell daemon.",
        discussion: """
            Reads the doorbell button over GPIO and rings the chime, streams the camera through \
            privacy masks and motion detection, talks over ALSA, and pushes events and sealed media \
            to the owner's sync module. Runs under systemd (porchlightd.service, Type=notify): \
            SIGHUP reloads the configuration (a broken one is rejected and the running one kept), \
            SIGTERM stops it after writing everything to disk.

            Files: /etc/porchlight/porchlight.toml (the configuration, every option documented), \
            /var/lib/porchlight (device key, outbox, access log, owner keys), \
            /run/porchlight/control.sock (for porchlightctl).

            Exit status: 0 stopped, 78 invalid configuration (not restarted by systemd), 69 a \
            device named in the configuration cannot be opened. See porchlightctl(1), \
            porchlight-sync(8) and /usr/share/doc/porchlightd/README.md.
            """,
        version: porchlightVersion
    )

    @Option(name: .long, help: "The configuration file.")
    var config = "/etc/porchlight/porchlight.toml"

    @Option(
        name: .customLong("check-config"),
        help: ArgumentHelp("Check FILE and exit: 0 if valid, 78 if not.", valueName: "FILE"))
    var checkConfig: String?

    func run() async throws {
        if let checkConfig {
            let report = ConfigLoader.checkReport(path: checkConfig)
            guard report.valid else {
                printError(report.text)
                throw ExitCode(exitConfig)
            }
            let sounds = (try? ConfigLoader.load(path: checkConfig)).map { config in
                var problems = DoorAudioSettings.problems(in: config, file: checkConfig)
                if config.mqtt.enabled {
                    do throws(ConfigErrors) {
                        _ = try MQTTBridge.settings(config.mqtt, file: checkConfig)
                    } catch {
                        problems += error.errors
                    }
                }
                return problems
            }
            if let sounds, !sounds.isEmpty {
                printError(ConfigErrors(sounds).description)
                throw ExitCode(exitConfig)
            }
            print(report.text)
            return
        }

        let loaded: Config
        let sounds: DoorAudioSettings?
        let mqtt: MQTTSettings?
        do throws(ConfigErrors) {
            loaded = try ConfigLoader.load(path: config)
            // Decoded once, here: a bad WAV is a config error (exit 78), and the pipelines reuse it.
            sounds = try DoorAudioSettings.load(loaded, file: config)
            // Likewise an unreadable password file or certificate for the broker.
            mqtt = loaded.mqtt.enabled ? try MQTTBridge.settings(loaded.mqtt, file: config) : nil
        } catch {
            printError(error.description)
            throw ExitCode(exitConfig)
        }

        let environment = processEnvironment()
        let logLevel = SharedLogLevel(loaded.log.level.swiftLogLevel)
        LoggingSetup.bootstrap(
            target: LogDestination.choose(loaded.log.target.rawValue, environment: environment),
            identifier: "porchlightd",
            level: logLevel)
        let logger = Logger(label: "porchlightd")
        logger.info(
            "Starting.", metadata: [LogKey.version: "\(porchlightVersion)", LogKey.file: "\(config)"])

        let notifier: Notifier
        do {
            notifier = try Notifier.fromEnvironment()
        } catch {
            logger.error(
                "Cannot reach systemd's notify socket; running without it.", metadata: [LogKey.error: "\(error)"])
            notifier = try Notifier(socketPath: nil)
        }

        // Trap SIGHUP before anything else can be slow, so an early reload request is not fatal.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let store = ConfigStore(loaded)
        let registry = HealthRegistry()
        let faults = FaultLimiter(interval: loaded.log.faultInterval)
        let configPath = config

        let root: CompositionRoot
        let controlPath: String
        do {
            root = try CompositionRoot(
                config: loaded, sounds: sounds, mqtt: mqtt, registry: registry, logger: logger, faults: faults)
            controlPath = try ensureDirectory(loaded.storage.runtimeDirectory) + "/control.sock"
        } catch {
            try startupFailed(error, logger: logger)
        }
        var services = root.services
        let commands = LocalCommands(
            simulator: root.simulator, outbox: root.outbox, ownerKeys: root.ownerKeys,
            doNotDisturb: root.doNotDisturb, illuminator: root.illuminator,
            registry: registry, logger: logger)
        services.append(ControlServer(path: controlPath, logger: logger, handler: commands.handle))
        let doNotDisturb = root.doNotDisturb
        let illuminator = root.illuminator
        let accessLog = root.accessLog
        services.append(
            ReloadService(hangups: hangups, notifier: notifier, logger: logger) {
                reloadConfiguration(from: configPath, into: store, level: logLevel, logger: logger) { old, new in
                    accessLog.record(
                        "Configuration change applied.",
                        AccessNote(
                            "config", actor: "local", detail: "reloaded \(configPath)",
                            source: "SIGHUP (systemctl reload)"
                        ))
                    doNotDisturb.setSchedule(new.chime.quietHours)
                    illuminator?.setSchedule(new.ir.schedule)
                    let pending = Config.sectionsNeedingRestart(from: old, to: new)
                    if !pending.isEmpty {
                        logger.notice(
                            "Some changes take effect at the next restart.",
                            metadata: [LogKey.component: "\(pending.joined(separator: ","))"])
                    }
                }
            })
        services.append(
            SystemdService(
                notifier: notifier, registry: registry,
                watchdogInterval: Notifier.watchdogInterval(environment: environment), logger: logger, faults: faults))

        var groupConfiguration = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // systemd's TimeoutStopSec is longer; this keeps a stuck service from holding up shutdown.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(4)
        do {
            try await ServiceGroup(configuration: groupConfiguration).run()
        } catch {
            try startupFailed(error, logger: logger)
        }
        logger.info("Stopped.")
    }

    /// Hardware that cannot be opened (a missing GPIO chip, a busy line) stops the daemon with
    /// EX_UNAVAILABLE and the reason; systemd retries after RestartSec.
    private func startupFailed(_ error: any Error, logger: Logger) throws -> Never {
        logger.critical("Cannot run.", metadata: [LogKey.error: "\(error)"])
        var text = "porchlightd: \(error)"
        if let hint = (error as? GPIOError)?.hint { text += "\n    hint: \(hint)" }
        printError(text)
        throw ExitCode(exitUnavailable)
    }
}

/// Loads the file again and applies it only if it validates; otherwise logs every error and keeps
/// the configuration in force. Never throws: a bad reload must not stop the doorbell.
func reloadConfiguration(
    from path: String, into store: ConfigStore, level: SharedLogLevel, logger: Logger,
    apply: (_ old: Config, _ new: Config) -> Void
) -> ReloadOutcome {
    do throws(ConfigErrors) {
        let config = try ConfigLoader.load(path: path)
        let sounds = DoorAudioSettings.problems(in: config, file: path)
        if !sounds.isEmpty { throw ConfigErrors(sounds) }
        apply(store.current, config)
        store.apply(config)
        level.value = config.log.level.swiftLogLevel
        logger.notice("Configuration reloaded.", metadata: [LogKey.file: "\(path)"])
        return .applied
    } catch {
        for problem in error.errors {
            logger.error(
                "Configuration rejected; the previous one stays in force.",
                metadata: [LogKey.file: "\(path)", LogKey.error: "\(problem.description)"])
        }
        return .rejected(errorCount: error.errors.count)
    }
}

/// EX_CONFIG from sysexits.h.
let exitConfig: Int32 = 78
/// EX_UNAVAILABLE from sysexits.h: the hardware is not there (yet).
let exitUnavailable: Int32 = 69

func printError(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}

import ArgumentParser
import Audio
import Config

#if canImport(Glibc)
    import Glibc
#endif

/// The command-line tool for the doorbell and the sync module.
@main
struct Porchlightctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "porchlightctl",
        abstract: "Check, pair and test a Porchlight doorbell.",
        subcommands: [
            ConfigCommand.self, Pair.self, KeysCommand.self, Ring.self, DoNotDisturbCommand.self, Status.self,
            Hardware.self,
            MotionCommand.self, MediaCommand.self, AuditCommand.self,
        ]
    )
}

/// Where the configuration is, for commands that need it.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "The daemon's configuration file.")
    var config = "/etc/porchlight/porchlight.toml"

    func load() throws -> Config {
        do {
            return try ConfigLoader.load(path: config)
        } catch {
            printError(error.description)
            throw ExitCode(78)
        }
    }
}

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with configuration files.",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a configuration file: exit 0 if valid, 78 with every error if not.")

        @Argument(help: "The configuration file.")
        var file = "/etc/porchlight/porchlight.toml"

        func run() throws {
            let report = ConfigLoader.checkReport(path: file)
            guard report.valid else {
                printError(report.text)
                throw ExitCode(78)
            }
            // The chime and quick-reply WAVs are decoded as the daemon will decode them.
            if let config = try? ConfigLoader.load(path: file) {
                let sounds = DoorAudioSettings.problems(in: config, file: file)
                guard sounds.isEmpty else {
                    printError(ConfigErrors(sounds).description)
                    throw ExitCode(78)
                }
            }
            print(report.text)
        }
    }
}

/// Prints a line and flushes it at once: into a file or a pipe, standard output is otherwise
/// block-buffered, and a live check's lines would reach `tee`, `grep` or a log only when it ends.
func printLive(_ text: String) {
    print(text)
    fflush(nil)
}

func printError(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}

import ArgumentParser
import Config

#if canImport(Glibc)
    import Glibc
#endif

/// The command-line tool for the doorbell and the sync module.
@main
struct Porchlightctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "porchlightctl",
        abstract: "Check, pair and test a Porchlight doorbell.",
        subcommands: [ConfigCommand.self]
    )
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
                let text = report.text + "\n"
                _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
                throw ExitCode(78)
            }
            print(report.text)
        }
    }
}

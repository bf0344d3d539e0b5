import ArgumentParser
import Config
import LocalControl

/// Sends one command to the running daemon's control socket and prints the reply.
func sendToDaemon(_ command: String, options: ConfigOption, socket: String?) throws {
    let path = try socket ?? (options.load().storage.runtimeDirectory + "/control.sock")
    let reply: String
    do {
        reply = try ControlClient.send(command, to: path)
    } catch {
        printError("porchlightctl: \(error)")
        throw ExitCode(69)
    }
    guard reply.hasPrefix("ok") else {
        printError("porchlightctl: \(reply)")
        throw ExitCode(1)
    }
    print(reply.dropFirst(reply.hasPrefix("ok: ") ? 4 : 2))
}

struct Ring: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Press the button: the daemon rings as if a visitor had pressed it.")

    @OptionGroup var options: ConfigOption
    @Option(help: "The control socket, instead of the one the configuration names.")
    var socket: String?

    func run() throws {
        try sendToDaemon("ring", options: options, socket: socket)
    }
}

struct DoNotDisturbCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnd",
        abstract: "Show or set do not disturb: on, off, or auto (follow chime.quiet_hours).")

    @Argument(help: "on, off or auto; leave out to show the current mode.")
    var mode: String?
    @OptionGroup var options: ConfigOption
    @Option(help: "The control socket, instead of the one the configuration names.")
    var socket: String?

    func validate() throws {
        if let mode, !["on", "off", "auto"].contains(mode) {
            throw ValidationError("expected on, off or auto, found \"\(mode)\"")
        }
    }

    func run() throws {
        try sendToDaemon(mode.map { "dnd \($0)" } ?? "dnd", options: options, socket: socket)
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what the daemon runs and what is degraded.")

    @OptionGroup var options: ConfigOption
    @Option(help: "The control socket, instead of the one the configuration names.")
    var socket: String?

    func run() throws {
        try sendToDaemon("status", options: options, socket: socket)
    }
}

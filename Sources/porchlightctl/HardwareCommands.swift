import ArgumentParser
import Config
import DoorbellCore
import LinuxGPIO
import Logging
import ServiceLifecycle

struct Hardware: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hw", abstract: "Test the doorbell's hardware.", subcommands: [ButtonCheck.self])
}

/// Prints the button's edges live, as `gpiomon` would, with the daemon's debounce, long-press
/// and rate-limit rules applied: for checking the wiring. Stop the daemon first (it holds the line).
struct ButtonCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "button", abstract: "Print button presses live, debounced, until Ctrl-C.")

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let config = try options.load()
        let button = config.button
        guard button.source == .gpio, let line = button.line else {
            printError("porchlightctl: button.source is not \"gpio\" in \(options.config); there is no line to watch")
            throw ExitCode(78)
        }
        print(
            "Watching line \(line) on \(button.chip) (debounce \(button.debounce), long press \(button.longPress)). Ctrl-C stops."
        )
        var logger = Logger(label: "porchlightctl")
        logger.logLevel = .warning
        let start = SystemClock().monotonicNow()
        let service = ButtonService(
            source: GPIOButton(chip: button.chip, line: line, activeLow: button.activeLow, bias: button.bias),
            settings: .init(debounce: button.debounce, longPress: button.longPress, ringWindow: button.ringWindow),
            clock: SystemClock(), health: HealthRegistry().register("button", deadline: .seconds(3600)),
            logger: logger, faults: FaultLimiter(interval: .seconds(10))
        ) { output in
            print(Self.describe(output, since: start))
        }
        let group = ServiceGroup(
            configuration: .init(services: [service], gracefulShutdownSignals: [.sigint, .sigterm], logger: logger))
        do {
            try await group.run()
        } catch let error as GPIOError {
            printError("porchlightctl: \(error)" + (error.hint.map { "\n    hint: \($0)" } ?? ""))
            throw ExitCode(69)
        }
    }

    static func describe(_ output: ButtonOutput, since start: Duration) -> String {
        func time(_ t: Duration) -> String {
            let ms = (t - start) / .milliseconds(1)
            return "[\(Int(ms / 1000)).\(String(Int(ms) % 1000 + 1000).dropFirst()) s]"
        }
        func millis(_ d: Duration) -> String { "\(Int(d / .milliseconds(1))) ms" }
        switch output {
        case .pressed(let at): return "\(time(at)) pressed"
        case .released(let at, let held): return "\(time(at)) released after \(millis(held))"
        case .ring(let at): return "\(time(at)) RING"
        case .repeatPress(let at, let count): return "\(time(at)) press \(count) within the ring window (no chime)"
        case .longPress(let at): return "\(time(at)) LONG PRESS"
        }
    }
}

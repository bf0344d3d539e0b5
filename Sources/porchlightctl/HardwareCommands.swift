import ArgumentParser
import Audio
import Config
import DoorbellCore
import Foundation
import HomeAutomation
import LinuxAudio
import LinuxCamera
import LinuxGPIO
import Logging
import MQTT
import ServiceLifecycle

/// `porchlightctl hw`: one check per part, for the bring-up guide (hardware/bring-up.md). Each
/// opens the device the configuration names, so stop the daemon first: it holds them.
struct Hardware: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hw", abstract: "Test the doorbell's hardware (stop porchlightd first).",
        subcommands: [
            GPIOList.self, ButtonCheck.self, ChimeCheck.self, CameraCheck.self, AudioCheck.self, IRCheck.self,
            MQTTCheck.self,
        ])
}

/// Connects to the broker `[mqtt]` names, publishes one test message and says what the broker
/// answered, or what is wrong and how to fix it. It runs beside the daemon (a client id of its
/// own), so it need not be stopped.
struct MQTTCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mqtt",
        abstract: "Connect to the MQTT broker and publish a test message (no need to stop porchlightd).")

    @OptionGroup var options: ConfigOption
    @Option(help: "Seconds to wait for the broker.") var timeout = 10

    func run() async throws {
        let config = try options.load()
        if !config.mqtt.enabled {
            printLive("note: mqtt.enabled is false in \(options.config); checking its settings anyway")
        }
        let settings: MQTTSettings
        do throws(ConfigErrors) {
            var made = try MQTTBridge.settings(config.mqtt, file: options.config)
            made.clientID = String((config.mqtt.resolvedClientID + "-check").suffix(23))
            made.retry = .seconds(30) ... .seconds(30)
            settings = made
        } catch {
            printError(error.description)
            throw ExitCode(78)
        }
        let security =
            switch settings.security {
            case .none: "plain TCP"
            case .systemCAs: "TLS, the system's CAs"
            case .caFile(let file): "TLS, CA \(file)"
            case .pinned(let file): "TLS, pinned certificate \(file)"
            }
        printLive(
            "broker \(settings.host):\(settings.port) (\(security)), MQTT \(config.mqtt.protocolVersion.rawValue), "
                + (settings.username.map { "user \($0)" } ?? "no credentials"))
        let started = ContinuousClock.now
        let client: MQTTClient
        do {
            client = try await MQTTClient.probe(settings, timeout: .seconds(max(1, timeout)))
        } catch {
            printError("porchlightctl: \(error)\n    hint: \(MQTTBridge.hint(for: error, settings))")
            throw ExitCode(69)
        }
        printLive(
            "connected: the broker accepted the connection (CONNACK 0) in \(Self.milliseconds(since: started)) ms")
        let topic = MQTTTopics(config.mqtt).test
        let sent = ContinuousClock.now
        do {
            let body = #"{"test":true,"from":"porchlightctl hw mqtt"}"#
            try await client.publish(topic, Array(body.utf8), timeout: .seconds(max(1, timeout)))
        } catch {
            await client.stop()
            printError(
                "porchlightctl: \(error)\n    hint: the user may not publish to \(topic): check the broker's ACL")
            throw ExitCode(69)
        }
        printLive("published to \(topic): the broker acknowledged it (PUBACK) in \(Self.milliseconds(since: sent)) ms")
        await client.stop()
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> String {
        String(format: "%.1f", Double((ContinuousClock.now - start) / .microseconds(1)) / 1000)
    }
}

/// Opens an output line for a check; a line that cannot be had (busy, missing, no permission)
/// ends the check with the error, its hint and exit 69. Ctrl-C or SIGTERM during the check
/// switches the line off before exiting (130): a chime's solenoid held on overheats, and IR LEDs
/// could stay lit, since a released line may keep its last level.
func openOutput(chip: String, line: GPIOLine, activeLow: Bool) throws -> GPIOOutput {
    let output: GPIOOutput
    do {
        output = try GPIOOutput(chip: chip, line: line, activeLow: activeLow)
    } catch {
        throw unavailable(error)
    }
    for number in [SIGINT, SIGTERM] {
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler {
            try? output.set(active: false)
            printLive("interrupted; line \(line) of \(chip) switched off")
            exit(130)
        }
        source.resume()
        interruptSources.append(source)
    }
    return output
}

/// Prints a GPIO line that cannot be had, with its hint, and gives the check's exit status (69).
func unavailable(_ error: GPIOError) -> ExitCode {
    printError("porchlightctl: \(error)" + (error.hint.map { "\n    hint: \($0)" } ?? ""))
    return ExitCode(69)
}

/// The checks' own logging: warnings and worse, so the check's output stays readable.
func checkLogger() -> Logger {
    var logger = Logger(label: "porchlightctl")
    logger.logLevel = .warning
    return logger
}

/// Keeps the checks' signal sources alive for the life of the process. Unsafe but sound: only a
/// check's `run`, once, on one task, appends to it before any signal can arrive.
nonisolated(unsafe) private var interruptSources: [any DispatchSourceSignal] = []

/// Clicks the chime relay: `count` pulses of `chime.relay_pulse_ms`, a second apart.
struct ChimeCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chime", abstract: "Pulse the chime relay, so it clicks (and the chime rings).")

    @OptionGroup var options: ConfigOption
    @Option(help: "How many pulses.") var count = 3

    func run() async throws {
        let config = try options.load()
        guard let relay = config.chime.relay else {
            printError("porchlightctl: \(options.config) has no chime.relay_line; there is no relay to click")
            throw ExitCode(78)
        }
        let output = try openOutput(chip: relay.chip, line: relay.line, activeLow: relay.activeLow)
        for index in 1...max(1, count) {
            try output.set(active: true)
            try await Task.sleep(for: relay.pulse)
            try output.set(active: false)
            printLive(
                "pulse \(index): \(Int(relay.pulse / .milliseconds(1))) ms on line \(relay.line) of \(relay.chip)")
            if index < count { try await Task.sleep(for: .seconds(1)) }
        }
    }
}

/// Lists the GPIO chips and their lines, with labels and who holds each, as `gpiodetect` and
/// `gpioinfo` would, and marks the chip `chip = "auto"` takes: what to put in the config on a
/// board whose chip numbers differ (a Pi 5's RP1 across kernels).
struct GPIOList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpio", abstract: "List the GPIO chips and lines, with their labels and who holds them.")

    func run() throws {
        let (chips, refused) = GPIOChipInfo.all()
        print("libgpiod \(GPIOChipInfo.libgpiodVersion) (its v\(GPIOChipInfo.libgpiodAPI) API)")
        for chip in chips {
            let header = chip.isHeader ? "  (the 40-pin header's chip: chip = \"auto\" opens it)" : ""
            print("\(chip.name) [\(chip.label)] \(chip.lines.count) lines\(header)")
            for line in chip.lines {
                let name = line.name.map { "\"\($0)\"" } ?? "unnamed"
                print("  line \(line.offset): \(name), \(line.consumer.map { "held by \($0)" } ?? "free")")
            }
        }
        for refusal in refused { printError("porchlightctl: cannot open \(refusal)") }
        guard !chips.isEmpty else {
            printError(
                "porchlightctl: no GPIO chip could be opened"
                    + (refused.isEmpty ? " (none in /dev)" : "; is this user in the gpio group?"))
            throw ExitCode(69)
        }
    }
}

/// Switches the IR LEDs on for a while, so the owner can see them glow in a phone camera (the
/// eye sees 850 nm LEDs only as a faint red) and watch the picture with `hw camera --frame`.
struct IRCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ir", abstract: "Switch the IR LEDs on for a few seconds.")

    @OptionGroup var options: ConfigOption
    @Option(help: "How long to keep them on, in seconds.") var seconds = 10

    func run() async throws {
        let ir = try options.load().ir
        guard let line = ir.line else {
            printError("porchlightctl: \(options.config) has no ir.line; there are no IR LEDs to switch")
            throw ExitCode(78)
        }
        let output = try openOutput(chip: ir.chip, line: line, activeLow: ir.activeLow)
        try output.set(active: true)
        printLive("IR LEDs on (line \(line) of \(ir.chip)) for \(seconds) s")
        try? await Task.sleep(for: .seconds(max(1, seconds)))
        try output.set(active: false)
        printLive("IR LEDs off")
    }
}

/// Streams from the camera for a few seconds and reports what it delivers.
struct CameraCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "camera", abstract: "Stream from the camera and report its format and frame rate.")

    @OptionGroup var options: ConfigOption
    @Option(help: "How long to stream, in seconds.") var seconds = 3
    @Option(help: "Write the last frame here (JPEG when the camera sends MJPEG, raw YUYV otherwise).")
    var frame: String?

    func run() async throws {
        let camera = try options.load().camera
        guard camera.source == .v4l2 else {
            printError("porchlightctl: camera.source is not \"v4l2\" in \(options.config)")
            throw ExitCode(78)
        }
        let source = V4L2Camera(
            device: camera.device, preference: camera.format, width: camera.width, height: camera.height,
            fps: camera.fps, buffers: camera.buffers, logger: checkLogger())
        // Read for `seconds` by the clock, not by frames: a camera that opens but sends nothing
        // must end the check too, with "gave no frames", rather than hang it.
        struct Tally: Sendable {
            var count = 0
            var first: Frame?
            var last: Frame?
        }
        let tally: Tally?
        do {
            tally = try await withThrowingTaskGroup(of: Tally?.self) { group in
                group.addTask {
                    var tally = Tally()
                    for try await next in try source.frames() {
                        tally.count += 1
                        if tally.first == nil { tally.first = next }
                        tally.last = next
                    }
                    return tally  // the stream ended, or the time is up (cancelled)
                }
                group.addTask {
                    try? await Task.sleep(for: .seconds(seconds))
                    return nil
                }
                var tally: Tally?
                while let next = try await group.next() {
                    if let next { tally = next }
                    group.cancelAll()
                }
                return tally
            }
        } catch {
            printError("porchlightctl: \(error)")
            throw ExitCode(69)
        }
        let count = tally?.count ?? 0
        let first = tally?.first
        let last = tally?.last
        guard let first, let last, count > 1 else {
            printError("porchlightctl: \(camera.device) gave no frames in \(seconds) s")
            throw ExitCode(69)
        }
        let span = Double((last.timestamp - first.timestamp) / .microseconds(1)) / 1e6
        let rate = span > 0 ? Double(count - 1) / span : 0
        print(
            "\(camera.device): \(first.format) \(first.width)x\(first.height), \(count) frames,"
                + " \(String(format: "%.1f", rate)) fps (asked for \(camera.fps)), last frame \(last.bytes.count) bytes"
        )
        if let frame {
            try Data(last.bytes).write(to: URL(fileURLWithPath: frame))
            print("wrote \(frame)")
        }
    }
}

/// Plays a test tone on the speaker and shows the microphone's level, so the owner hears the
/// one and sees the other move when speaking near it.
struct AudioCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audio", abstract: "Play a test tone and show the microphone's level meter.")

    @OptionGroup var options: ConfigOption
    @Option(help: "How long to listen, in seconds (the tone plays for the first two).") var seconds = 6
    @Option(help: "The tone's volume, 0–100 % of full scale.") var volume = 30

    func run() async throws {
        let audio = try options.load().audio
        let logger = checkLogger()
        let check = ToneCheck(frequency: 1000, volume: volume, tone: .seconds(2))
        let device = ALSAAudioDevice(
            settings: .init(
                playbackDevice: audio.playbackDevice, captureDevice: audio.captureDevice,
                period: .milliseconds(audio.periodMilliseconds), buffer: .milliseconds(audio.bufferMilliseconds)),
            processor: check, health: HealthRegistry().register("audio", deadline: .seconds(3600)), logger: logger,
            faults: FaultLimiter(interval: .seconds(60)))
        printLive("Tone on \(audio.playbackDevice) for 2 s; microphone \(audio.captureDevice), level in dBFS:")
        let group = ServiceGroup(
            configuration: .init(services: [device], gracefulShutdownSignals: [.sigint, .sigterm], logger: logger))
        let running = Task { try await group.run() }
        var shown = 0
        var peak = -96.0
        for _ in 0..<(seconds * 10) {
            try await Task.sleep(for: .milliseconds(100))
            let (levels, failure) = check.measured
            if let failure {
                running.cancel()
                printError("porchlightctl: \(failure)")
                throw ExitCode(69)
            }
            let recent = levels.dropFirst(shown)
            shown = levels.count
            guard let level = recent.max() else { continue }
            peak = max(peak, level)
            printLive(String(format: "%6.1f ", level) + ToneCheck.meter(level))
        }
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        print(String(format: "loudest: %.1f dBFS", peak))
    }
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
        printLive(
            "Watching line \(line) on \(button.chip) (debounce \(button.debounce), long press \(button.longPress)). Ctrl-C stops."
        )
        let logger = checkLogger()
        let start = SystemClock().monotonicNow()
        let service = ButtonService(
            source: GPIOButton(chip: button.chip, line: line, activeLow: button.activeLow, bias: button.bias),
            settings: .init(debounce: button.debounce, longPress: button.longPress, ringWindow: button.ringWindow),
            clock: SystemClock(), health: HealthRegistry().register("button", deadline: .seconds(3600)),
            logger: logger, faults: FaultLimiter(interval: .seconds(10))
        ) { output in
            printLive(Self.describe(output, since: start))
        }
        let group = ServiceGroup(
            configuration: .init(services: [service], gracefulShutdownSignals: [.sigint, .sigterm], logger: logger))
        do {
            try await group.run()
        } catch let error as GPIOError {
            throw unavailable(error)
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

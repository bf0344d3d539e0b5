import Audio
import Config
import DoorbellCore
import LinuxCamera
import LinuxAudio
import LinuxGPIO
import LocalControl
import HomeAutomation
import Logging
import MQTT
import Media
import Privacy
import ServiceLifecycle
import SyncProtocol
import Uplink

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's composition root: its parts, composed from the configuration: the button, the
/// chime (relay and sound), events, outbox, uplink and control channel, the camera pipeline (V4L2
/// or file; masks, motion, snapshots, clips) and the door's audio (ALSA: door sounds, quick
/// replies, talk).
public struct CompositionRoot {
    public private(set) var services: [any Service] = []
    public let doNotDisturb: DoNotDisturb
    /// The IR LEDs, when wired to a GPIO line; a reload gives it new hours.
    public let illuminator: Illuminator?
    public let simulator = ButtonSimulator()
    public let outbox: Outbox
    public let ownerKeys: OwnerKeysFile
    /// The doorbell's signed access log, mirrored with the sync module.
    public let accessLog: DoorbellAccessLog

    /// `sounds`: the door's audio settings with their sounds decoded (nil when audio is off);
    /// `mqtt`: the broker's settings, read and checked (nil when `[mqtt]` is off).
    public init(
        config: Config, sounds: DoorAudioSettings?, mqtt: MQTTSettings? = nil, registry: HealthRegistry,
        logger: Logger, faults: FaultLimiter
    ) throws {
        let clock = SystemClock()
        doNotDisturb = DoNotDisturb(schedule: config.chime.quietHours)

        // Every event is durable in the outbox before anything else, then a journal entry; the
        // uplink (`SyncLink`, below) drains it to the sync module once paired.
        let state = try ensureDirectory(config.storage.stateDirectory)
        let outbox = try Outbox(path: state + "/outbox.sqlite")
        self.outbox = outbox
        // Signed with the device key, which exists before pairing so that early entries are signed.
        let accessLog = try DoorbellAccessLog(
            stateDirectory: state, identity: try PairingRecord.identity(in: state),
            logger: Logger(label: "porchlightd.access"))
        self.accessLog = accessLog
        // The broker comes after the outbox and takes each event without waiting (MQTTBridge).
        var bridge: MQTTBridge?
        if let mqtt {
            bridge = MQTTBridge(
                config: config.mqtt, settings: mqtt, deviceName: config.device.name, version: porchlightVersion,
                camera: config.camera.enabled, doNotDisturb: doNotDisturb, registry: registry, access: accessLog,
                logger: Logger(label: "porchlightd.mqtt"), faults: faults)
        }
        var sinks: [any EventSink] = [outbox, LogEventSink(logger: Logger(label: "porchlightd.events"))]
        if let bridge { sinks.append(bridge) }
        let dispatcher = EventDispatcher(sink: EventSinkChain(sinks), logger: logger, faults: faults)
        var media: any MediaCapture = NoMediaCapture()
        // Media deleted to keep within the bound before it was uploaded is reported to the owner.
        let maxMedia = config.storage.outboxMaxBytes
        let retentionDays = config.privacy.retentionDays
        // Sealed for the keys the sync module last sent (each key's id is computed here, not taken).
        let ownerKeys = OwnerKeysFile(stateDirectory: state)
        self.ownerKeys = ownerKeys
        let store = try MediaStore(
            directory: state + "/media", maxBytes: maxMedia, maxAge: .seconds(retentionDays * 86_400),
            recipients: { ownerKeys.recipients() }, thumbnailRecipients: { ownerKeys.thumbnailRecipients() }
        ) { [dispatcher] item, why in
            let reason =
                switch why {
                case .full:
                    "the doorbell's media store reached storage.outbox_max_mb (\(maxMedia >> 20) MiB) "
                        + "before the sync module took it"
                case .expired:
                    "older than privacy.retention_days (\(retentionDays)) and never taken by the sync module"
                }
            dispatcher.enqueue(.mediaEvicted(MediaEviction(media: item, reason: reason)))
            accessLog.record(
                "Media deleted on the doorbell.",
                AccessNote(
                    "retention-delete", actor: "retention", detail: "\(item.id): \(reason)", source: "doorbell"))
        }
        // Retention for media the sync module never took, also while the doorbell is quiet.
        services.append(PeriodicService(every: .seconds(3600)) { try? store.trim() })
        // STATUS says when the owner's keys cannot be trusted; no media is kept meanwhile.
        let keysHealth = registry.register("keys", deadline: .seconds(30))
        let pins = PinWatch(ownerKeys)
        services.append(
            PeriodicService(every: .seconds(5)) {
                // Pinned or reset on the doorbell's console, beside the daemon: an access entry.
                if let pinned = pins.change() {
                    accessLog.record(
                        pinned == nil ? "Recovery key pin reset." : "Recovery key pinned.",
                        AccessNote(
                            pinned == nil ? "key-reset" : "key-pin", actor: "console",
                            detail: pinned.map { OwnerKeysFile.fingerprint($0) } ?? "media held until a key is pinned",
                            source: "porchlightctl keys"))
                }
                let problem = ownerKeys.problem
                keysHealth.checkIn(
                    problem.map { .degraded("\($0); no media is kept until the sync module sends them again") }
                        ?? ownerKeys.holding.map { .degraded($0) } ?? .ok)
            })
        let tap = config.camera.enabled ? FrameTap() : nil
        // Audio in clips only when the owner turned it on: the microphone then stays open.
        let clipAudio =
            config.privacy.bystanderAudio && config.audio.enabled && config.camera.enabled
            ? AudioRing(keep: config.camera.preRoll + .seconds(5)) : nil
        let cameraDescription =
            !config.camera.enabled
            ? "none"
            : config.camera.source == .file
                ? "file \(config.camera.file ?? "")"
                : "\(config.camera.device) \(config.camera.width)x\(config.camera.height)"
        if config.camera.enabled {
            let camera = config.camera
            let cameraLogger = Logger(label: "porchlightd.camera")
            let source: any FrameSource =
                switch camera.source {
                case .file:
                    FileCamera(path: camera.file ?? "", fps: camera.fps, realtime: camera.realtime, loop: camera.loop)
                case .v4l2:
                    V4L2Camera(
                        device: camera.device, preference: camera.format, width: camera.width,
                        height: camera.height, fps: camera.fps, buffers: camera.buffers, logger: cameraLogger)
                }
            var settings = CameraPipelineSettings(camera: camera, motion: config.motion, privacy: config.privacy)
            settings.audio = clipAudio
            if let bridge, config.mqtt.snapshots {
                settings.snapshotTap = { bridge.snapshot($0, jpeg: $1) }
            }
            let pipeline = CameraPipeline(
                source: source, settings: settings,
                clock: clock, health: registry.register("camera", deadline: .seconds(10)), events: dispatcher,
                store: store, logger: cameraLogger, faults: faults, tap: tap)
            services.append(pipeline)
            media = pipeline
        }
        // The door's audio: sounds were decoded when the config was loaded; a missing sound card
        // only degrades audio.
        let audio: DoorAudio?
        if var settings = sounds {
            let audioLogger = Logger(label: "porchlightd.audio")
            settings.clipAudio = clipAudio
            if clipAudio != nil {
                audioLogger.notice("Clips record audio (privacy.bystander_audio = true); the microphone stays open.")
            }
            let door = DoorAudio(settings: settings, logger: audioLogger)
            let device = ALSAAudioDevice(
                settings: .init(
                    playbackDevice: config.audio.playbackDevice, captureDevice: config.audio.captureDevice,
                    period: .milliseconds(config.audio.periodMilliseconds),
                    buffer: .milliseconds(config.audio.bufferMilliseconds)),
                processor: door, health: registry.register("audio", deadline: .seconds(10)), logger: audioLogger,
                faults: faults)
            door.attach(device)
            services.append(device)
            audio = door
        } else {
            audio = nil
            if config.chime.sound != .none {
                logger.notice("Audio is off ([audio] enabled = false), so only the relay sounds on a ring.")
            }
        }
        var chimes = try Self.chime(config.chime, logger: logger, faults: faults)
        if let audio { chimes.append(audio) }
        let engine = DoorbellEngine(
            chime: ChimeGroup(chimes), media: media,
            events: dispatcher, doNotDisturb: doNotDisturb, clock: clock)

        if config.button.enabled {
            let button = config.button
            let source: any ButtonSource =
                switch button.source {
                case .gpio:
                    GPIOButton(
                        chip: button.chip, line: button.line ?? .offset(0), activeLow: button.activeLow,
                        bias: button.bias)
                case .simulated: UnwiredButton()
                }
            services.append(
                ButtonService(
                    source: source,
                    settings: .init(
                        debounce: button.debounce, longPress: button.longPress, ringWindow: button.ringWindow),
                    clock: clock, health: registry.register("button", deadline: .seconds(5)), simulator: simulator,
                    logger: logger, faults: faults, handle: engine.handle))
            if let every = button.simulateEvery {
                services.append(SimulatedVisitor(simulator: simulator, interval: every))
            }
        }
        services.append(dispatcher)
        if let bridge { services.append(bridge) }

        // Like the relay, an IR line that cannot be opened is a startup error: it names the line.
        if let line = config.ir.line {
            let output = try GPIOOutput(chip: config.ir.chip, line: line, activeLow: config.ir.activeLow)
            let illuminator = Illuminator(
                output: output, schedule: config.ir.schedule, clock: clock, logger: logger, faults: faults)
            services.append(illuminator)
            self.illuminator = illuminator
        } else {
            illuminator = nil
        }

        services.append(
            SyncLink(
                state: state, health: registry.register("uplink", deadline: .seconds(30)), logger: logger,
                accessLog: accessLog,
                makeServices: { pairing, identity, health in
                    let controlLogger = Logger(label: "porchlightd.control")
                    let retry = config.sync.retryInitial...config.sync.retryMax
                    let talkKey: OwnerKey?
                    do {
                        talkKey = try PairingRecord.talkKey(in: state)
                    } catch {
                        talkKey = nil
                        controlLogger.error(
                            "Cannot read or make the talk key; talk is refused.", metadata: [LogKey.error: "\(error)"])
                    }
                    let published = talkKey.flatMap { PairingRecord.publishedTalkKey($0, signedBy: identity) }
                    return [
                        UplinkService(
                            outbox: outbox, media: store, pairing: pairing, identity: identity, health: health,
                            logger: Logger(label: "porchlightd.uplink"), faults: faults, retry: retry),
                        ControlChannelService(
                            pairing: pairing, identity: identity,
                            commands: RemoteCommands(
                                tap: tap, audio: audio, ownerKeys: ownerKeys,
                                maxLive: config.sync.liveViewMax, logger: controlLogger, access: accessLog,
                                device: pairing.deviceID, talkKey: talkKey, reload: { kill(getpid(), SIGHUP) }),
                            health: registry.register("control", deadline: .seconds(30)), logger: controlLogger,
                            faults: faults, retry: retry, accessLog: accessLog,
                            report: {
                                StatusReport(
                                    status: registry.statusLine(), backlog: (try? outbox.backlog().pending) ?? -1,
                                    version: porchlightVersion, camera: cameraDescription,
                                    replies: audio?.quickReplies ?? [], talkKey: published)
                            }),
                    ]
                }))
    }

    /// The relay, opened now: a chime that cannot be driven is a startup error. The door's
    /// sound comes after it, so the relay never waits for audio.
    static func chime(_ config: ChimeConfig, logger: Logger, faults: FaultLimiter) throws -> [any ChimeOutput] {
        guard let relay = config.relay else { return [] }
        let output = try GPIOOutput(chip: relay.chip, line: relay.line, activeLow: relay.activeLow)
        return [
            PulsedChime(output: output, pulse: relay.pulse) { error in
                logger.fault(
                    "Cannot drive the chime relay.", key: "chime.relay", limiter: faults, level: .error,
                    metadata: [LogKey.error: "\(error)"])
            }
        ]
    }
}

/// Creates a state or runtime directory owner-only when systemd has not (a run by hand).
public func ensureDirectory(_ path: String) throws -> String {
    if mkdir(path, 0o700) != 0 && errno != EEXIST {
        throw StartupError(message: "cannot create the directory \(path): \(String(cString: strerror(errno)))")
    }
    return path
}

public struct StartupError: Error, CustomStringConvertible {
    var message: String
    public var description: String { message }
}

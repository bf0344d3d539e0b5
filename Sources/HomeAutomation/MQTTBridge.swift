import Config
import DoorbellCore
import Foundation
import Logging
import MQTT
import ServiceLifecycle
import Synchronization

/// The doorbell on the owner's MQTT broker: Home Assistant's discovery, the state topics
/// (retained, sent again on every connection and on Home Assistant's birth), and the events.
///
/// Nothing here can hold up the doorbell. The dispatcher hands each event over with `deliver`,
/// which only queues it: at most `queueLimit` wait (the oldest goes first when full), and one
/// older than `mqtt.max_event_age_s` is dropped rather than published late, so that no automation
/// rings the speakers for a visitor who left an hour ago.
public final class MQTTBridge: Service, EventSink, Sendable {
    public static let queueLimit = 64

    struct Outgoing: Sendable {
        var topic: String
        var payload: [UInt8]
        var queued: ContinuousClock.Instant
        /// A snapshot: recorded in the access log as it goes.
        var snapshotOf: EventID?
    }

    private struct State {
        var motion = "OFF"
        var motionAttributes: [String: any Sendable] = ["zones": [String]()]
        var status = ""
        var frigate: FrigateEvents
        /// Whether the current ring's chime was silenced, for its later presses' payloads.
        var lastRing: (id: EventID, chimeSilenced: Bool)?
        var dropped = 0
        var stale = 0
    }

    private let config: MQTTConfig
    private let settings: MQTTSettings
    private let topics: MQTTTopics
    private let deviceName: String
    private let version: String
    private let camera: Bool
    private let doNotDisturb: DoNotDisturb
    private let registry: HealthRegistry
    private let health: HealthReporter
    private let access: any AccessRecording
    private let logger: Logger
    private let faults: FaultLimiter
    private let state: Mutex<State>
    private let queue: AsyncStream<Outgoing>
    private let continuation: AsyncStream<Outgoing>.Continuation
    /// Retained states, in the order they changed (a motion OFF must not overtake its ON); only
    /// the newest batches are kept while the broker is slow, and each holds current values.
    private let states: AsyncStream<[(String, [UInt8])]>
    private let statesContinuation: AsyncStream<[(String, [UInt8])]>.Continuation
    private let client = Mutex<MQTTClient?>(nil)

    public init(
        config: MQTTConfig, settings: MQTTSettings, deviceName: String, version: String, camera: Bool,
        doNotDisturb: DoNotDisturb, registry: HealthRegistry, access: any AccessRecording, logger: Logger,
        faults: FaultLimiter
    ) {
        self.config = config
        var settings = settings
        topics = MQTTTopics(config)
        settings.will = .init(topic: topics.availability, payload: "offline")
        settings.subscriptions = [
            topics.command(topics.doNotDisturb), topics.command(topics.chimeMute), topics.homeAssistantStatus,
        ]
        self.settings = settings
        self.deviceName = deviceName
        self.version = version
        self.camera = camera
        self.doNotDisturb = doNotDisturb
        self.registry = registry
        health = registry.register("mqtt", deadline: .seconds(30))
        self.access = access
        self.logger = logger
        self.faults = faults
        state = Mutex(State(frigate: FrigateEvents(camera: config.deviceID, hasSnapshot: camera)))
        (states, statesContinuation) = AsyncStream.makeStream(
            of: [(String, [UInt8])].self, bufferingPolicy: .bufferingNewest(Self.queueLimit))
        (queue, continuation) = AsyncStream.makeStream(
            of: Outgoing.self, bufferingPolicy: .bufferingNewest(Self.queueLimit))
    }

    // MARK: What the doorbell hands over

    /// Queues the event's publications and returns at once; never throws, so the outbox and the
    /// log before it in the sink chain are never retried on its account.
    public func deliver(_ event: DoorbellEvent) async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let frigate = state.withLock { $0.frigate.message(for: event) }
        if let frigate { enqueue(topics.event, MQTTPayloads.json(frigate)) }
        switch event {
        case .ring(let ring):
            state.withLock { $0.lastRing = (ring.id, ring.chimeSilenced) }
            enqueue(topics.doorbell, MQTTPayloads.json(pressEvent(ring.id, count: ring.pressCount)))
            enqueue(topics.ring, MQTTPayloads.json(MQTTPayloads.ring(ring)))
        case .ringPressCount(let ringID, let count):
            enqueue(topics.doorbell, MQTTPayloads.json(pressEvent(ringID, count: count)))
            let silenced = state.withLock { $0.lastRing.flatMap { $0.id == ringID ? $0.chimeSilenced : nil } }
            enqueue(
                topics.ring,
                MQTTPayloads.json(MQTTPayloads.pressCount(ringID, count, at: now, chimeSilenced: silenced ?? false)))
        case .longPress(let press):
            var body: [String: any Sendable] = ["event_type": "long_press", "event_id": press.id.rawValue]
            if let ring = press.ringID { body["ring_id"] = ring.rawValue }
            enqueue(topics.doorbell, MQTTPayloads.json(body))
        case .motion(let motion):
            let on = motion.phase != .ended
            let attributes: [String: any Sendable] = [
                "event_id": motion.id.rawValue, "zones": on ? motion.zones : [], "score": motion.score,
            ]
            state.withLock {
                $0.motion = on ? "ON" : "OFF"
                $0.motionAttributes = attributes
            }
            // State, not an event: retained, and whatever it is now is what a reconnection sends.
            if motion.phase != .updated {
                publishState([
                    (topics.motionAttributes, MQTTPayloads.json(attributes)),
                    (topics.motion, Array((on ? "ON" : "OFF").utf8)),
                ])
            }
        case .mediaEvicted:
            break
        }
    }

    private func pressEvent(_ id: EventID, count: Int) -> [String: any Sendable] {
        ["event_type": config.pressEvent.rawValue, "event_id": id.rawValue, "press_count": count]
    }

    /// A ring's or motion's masked snapshot, when the owner turned on `mqtt.snapshots`.
    public func snapshot(_ id: EventID, jpeg: [UInt8]) {
        guard config.snapshots else { return }
        enqueue(topics.snapshot, jpeg, snapshotOf: id)
    }

    private func enqueue(_ topic: String, _ payload: [UInt8], snapshotOf: EventID? = nil) {
        let item = Outgoing(topic: topic, payload: payload, queued: .now, snapshotOf: snapshotOf)
        if case .dropped = continuation.yield(item) {
            let count = state.withLock {
                $0.dropped += 1
                return $0.dropped
            }
            logger.fault(
                "MQTT queue full; the oldest publication was dropped.", key: "mqtt.queue", limiter: faults,
                metadata: ["dropped": "\(count)"])
        }
    }

    // MARK: Running

    public func run() async throws {
        health.checkIn(.degraded("connecting to the MQTT broker"))
        let made: MQTTClient
        do {
            made = try MQTTClient(settings) { [weak self] event in self?.handle(event) }
        } catch {
            logger.error("Cannot set up the MQTT client.", metadata: [LogKey.error: "\(error)"])
            health.checkIn(.degraded("MQTT: \(error)"))
            try? await gracefulShutdown()
            return
        }
        client.withLock { $0 = made }
        made.start()
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.drain(made) }
                group.addTask { await self.refresh() }
                group.addTask { await self.publishStates(made) }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.continuation.finish()
            self.statesContinuation.finish()
        }
        // A clean DISCONNECT suppresses the will, so the last word is said here.
        await made.stop(last: (topics.availability, "offline"))
    }

    /// Publishes what waits, in order, each once the broker is there and only while still fresh.
    private func drain(_ client: MQTTClient) async {
        for await item in queue {
            var recorded = false
            while true {
                if item.queued.duration(to: .now) > config.maxEventAge {
                    let count = state.withLock {
                        $0.stale += 1
                        return $0.stale
                    }
                    logger.fault(
                        "An MQTT publication waited longer than mqtt.max_event_age_s and was dropped.",
                        key: "mqtt.stale", limiter: faults, metadata: ["topic": "\(item.topic)", "dropped": "\(count)"])
                    break
                }
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                guard client.isConnected else {
                    // The broker is away: look again shortly, until the item is too old.
                    try? await Task.sleep(for: .milliseconds(250))
                    continue
                }
                if let id = item.snapshotOf, !recorded {
                    recorded = true
                    access.record(
                        "Snapshot sent to the MQTT broker.",
                        AccessNote(
                            "mqtt-snapshot", actor: "doorbell", detail: "\(id) to \(settings.host):\(settings.port)",
                            source: "mqtt.snapshots"))
                }
                do {
                    try await client.publish(item.topic, item.payload)
                    break
                } catch {
                    logger.debug("MQTT publication not acknowledged; again.", metadata: [LogKey.error: "\(error)"])
                    // Never a tight loop, whatever libmosquitto answers.
                    try? await Task.sleep(for: .milliseconds(250))
                }
            }
        }
    }

    /// Every 5 s: health, and the states that change without an event (quiet hours, STATUS).
    private func refresh() async {
        var last: (String, String)?
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let connected = client.withLock { $0?.isConnected } ?? false
            if connected {
                let now = (dndState(), registry.statusLine())
                if last.map({ $0 != now }) ?? true {
                    last = now
                    publishState(statusStates())
                }
            }
            try? await Task.sleep(for: .seconds(5))
        }
    }

    private func handle(_ event: MQTTClient.Event) {
        switch event {
        case .connected:
            faults.clear("mqtt")
            health.checkIn(.ok)
            logger.notice("Connected to the MQTT broker.", metadata: ["broker": "\(settings.host):\(settings.port)"])
            Task { await self.announce() }
        case .failed(let error):
            health.checkIn(.degraded("MQTT broker: \(error.reason)"))
            logger.fault(
                "Cannot connect to the MQTT broker; retrying.", key: "mqtt", limiter: faults,
                metadata: [LogKey.error: "\(error)", LogKey.hint: "\(Self.hint(for: error, settings))"])
        case .disconnected(let reason):
            health.checkIn(.degraded("MQTT broker connection lost"))
            logger.fault(
                "Lost the MQTT broker; reconnecting.", key: "mqtt", limiter: faults,
                metadata: [LogKey.reason: "\(reason)"])
        case .message(let topic, let payload):
            command(topic, payload)
        }
    }

    /// Availability, discovery and every state: on each connection, and when Home Assistant
    /// says it is back (its birth message), since it may have lost them.
    private func announce() async {
        var messages: [(String, [UInt8])] = [(topics.availability, Array("online".utf8))]
        if config.discovery {
            for entity in HomeAssistantDiscovery.entities(
                config, deviceName: deviceName, version: version, camera: camera)
            {
                messages.append((entity.topic, entity.config.map { MQTTPayloads.json($0) } ?? []))
            }
        }
        let (motion, attributes) = state.withLock { ($0.motion, $0.motionAttributes) }
        messages += [(topics.motionAttributes, MQTTPayloads.json(attributes)), (topics.motion, Array(motion.utf8))]
        messages += statusStates()
        publishState(messages)
    }

    private func statusStates() -> [(String, [UInt8])] {
        let line = registry.statusLine()
        // A sensor's state is at most 255 characters in Home Assistant; the whole line is an attribute.
        let short = line.count > 255 ? String(line.prefix(254)) + "…" : line
        return [
            (topics.doNotDisturb, Array(dndState().utf8)),
            (topics.chimeMute, Array((doNotDisturb.chimeMuted ? "ON" : "OFF").utf8)),
            (
                topics.statusAttributes,
                MQTTPayloads.json([
                    "status": line, "version": version, "do_not_disturb_mode": doNotDisturb.mode.rawValue,
                ])
            ),
            (topics.status, Array(short.utf8)),
        ]
    }

    private func dndState() -> String {
        let now = SystemClock().wallNow()
        return doNotDisturb.isActive(at: now) ? "ON" : "OFF"
    }

    /// Retained states, beside the event queue: a state is only ever the current one, and what
    /// is missed while the broker is away goes at the next connection (`announce`).
    private func publishState(_ messages: [(String, [UInt8])]) {
        guard client.withLock({ $0?.isConnected }) == true else { return }
        statesContinuation.yield(messages)
    }

    private func publishStates(_ client: MQTTClient) async {
        for await batch in states {
            for (topic, payload) in batch {
                do {
                    try await client.publish(topic, payload, retain: true)
                } catch {
                    logger.debug("MQTT state not published.", metadata: [LogKey.error: "\(error)"])
                    break
                }
            }
        }
    }

    // MARK: Commands

    /// `<base>/do_not_disturb/set` and `<base>/chime_mute/set` with ON or OFF, obeyed only with
    /// `mqtt.accept_commands = true`; each change is an access-log entry. Home Assistant's birth
    /// (`online`) sends everything again.
    private func command(_ topic: String, _ payload: [UInt8]) {
        let text = String(decoding: payload, as: UTF8.self)
        if topic == topics.homeAssistantStatus {
            if text == "online" { Task { await self.announce() } }
            return
        }
        let which: String
        switch topic {
        case topics.command(topics.doNotDisturb): which = "do_not_disturb"
        case topics.command(topics.chimeMute): which = "chime_mute"
        default: return
        }
        guard config.acceptCommands else {
            logger.fault(
                "MQTT command refused: mqtt.accept_commands is off.", key: "mqtt.command", limiter: faults,
                level: .warning, metadata: ["topic": "\(topic)"])
            // Home Assistant shows the switch as it was.
            publishState(statusStates())
            return
        }
        guard text == "ON" || text == "OFF" else {
            logger.fault(
                "MQTT command refused: expected ON or OFF.", key: "mqtt.command", limiter: faults, level: .warning,
                metadata: ["topic": "\(topic)", "payload_bytes": "\(payload.count)"])
            return
        }
        let on = text == "ON"
        let detail: String
        if which == "do_not_disturb" {
            // Off returns to the quiet hours' schedule rather than overriding it.
            doNotDisturb.mode = on ? .on : .auto
            detail = "do not disturb \(on ? "on" : "auto (chime.quiet_hours)")"
        } else {
            doNotDisturb.chimeMuted = on
            detail = "chime mute \(on ? "on" : "off")"
        }
        access.record(
            "Setting changed over MQTT.",
            AccessNote(
                "mqtt-command", actor: "MQTT broker", detail: detail, source: "\(settings.host):\(settings.port)"))
        publishState(statusStates())
    }

    /// The fix for the common failures, in words (the journal and `porchlightctl hw mqtt`).
    public static func hint(for error: MQTTError, _ settings: MQTTSettings) -> String {
        if let code = error.connack {
            return switch code {
            case 4, 5, 134, 135:
                "the broker refused the credentials: check mqtt.username and mqtt.password (or password_file), "
                    + "and the user's ACL on the broker"
            case 2, 133: "the broker refused the client id: set mqtt.client_id (at most 23 characters for MQTT 3.1.1)"
            case 1, 132: "the broker does not speak this MQTT version: set mqtt.protocol"
            default: "the broker refused the connection: see its log"
            }
        }
        // TLS to a plain listener: bookworm's libmosquitto logs OpenSSL's reason, trixie's only
        // says "Protocol error".
        if error.tls || settings.security != .none && error.reason.contains("Protocol error") {
            if error.reason.contains("hostname")
                || error.reason.contains("certificate verify failed")
                    && settings.security != .none
            {
                return "TLS failed: the broker's certificate is not valid for \"\(settings.host)\" under the CA given, "
                    + "or not the pinned one; use the name in the certificate as mqtt.host, or check mqtt.ca_file "
                    + "or mqtt.pinned_certificate"
            }
            return "TLS failed: check that the port (\(settings.port)) is the broker's TLS listener, and mqtt.ca_file"
        }
        if error.reason.contains("refused") {
            return "nothing listens on \(settings.host):\(settings.port): check mqtt.port (1883 plain, 8883 TLS) "
                + "and that the broker runs"
        }
        if error.reason.contains("no answer") || error.reason.contains("timed out")
            || error.reason.contains("protocol error") || error.reason.contains("connection lost")
        {
            return "no MQTT answer from \(settings.host):\(settings.port): a wrong port, a firewall, or a TLS listener "
                + "spoken to in plain text (set mqtt.tls)"
        }
        return "check mqtt.host and mqtt.port"
    }
}

extension MQTTBridge {
    /// The client's settings from `[mqtt]`, with the password read from `password_file` and the
    /// CA or pinned certificate checked readable now: a mistake is a config error (exit 78)
    /// naming its key, not a retry loop.
    public static func settings(_ config: MQTTConfig, file: String) throws(ConfigErrors) -> MQTTSettings {
        var errors: [ConfigError] = []
        func readable(_ key: String, _ path: String?, max: Int) -> String? {
            guard let path else { return nil }
            guard let data = FileManager.default.contents(atPath: path) else {
                errors.append(ConfigError(file: file, keyPath: "mqtt.\(key)", message: "cannot read \(path)"))
                return nil
            }
            guard data.count <= max else {
                errors.append(
                    ConfigError(file: file, keyPath: "mqtt.\(key)", message: "\(path) is over \(max) bytes"))
                return nil
            }
            return String(decoding: data, as: UTF8.self)
        }
        var password = config.password
        if let text = readable("password_file", config.passwordFile, max: 1024) {
            password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
            if password?.isEmpty ?? true {
                errors.append(
                    ConfigError(
                        file: file, keyPath: "mqtt.password_file",
                        message: "\(config.passwordFile ?? "") has no password on its first line"))
            }
        }
        for (key, path) in [("ca_file", config.caFile), ("pinned_certificate", config.pinnedCertificate)] {
            if let text = readable(key, path, max: 1 << 20), !text.contains("-----BEGIN CERTIFICATE-----") {
                errors.append(
                    ConfigError(
                        file: file, keyPath: "mqtt.\(key)", message: "\(path ?? "") holds no PEM certificate"))
            }
        }
        guard errors.isEmpty else { throw ConfigErrors(errors) }
        let security: MQTTSettings.Security =
            !config.tls
            ? .none
            : config.pinnedCertificate.map { .pinned($0) } ?? config.caFile.map { .caFile($0) } ?? .systemCAs
        return MQTTSettings(
            host: config.host, port: config.resolvedPort, clientID: config.resolvedClientID,
            username: config.username, password: password, version: config.protocolVersion == .v5 ? .v5 : .v311,
            security: security, keepalive: Int(config.keepalive.components.seconds),
            retry: config.retryInitial...config.retryMax)
    }
}

import DoorbellTestKit
import Foundation
import Testing

/// porchlightd on a real mosquitto (TLS, a password file), watched by PyPI's paho-mqtt: what Home
/// Assistant and a Node-RED flow would see (docs/mqtt.md).
@Suite("porchlightd on an MQTT broker, as Home Assistant sees it", .timeLimit(.minutes(5)))
struct MQTTDaemonTests {
    static let base = "porchlight/test_porch"
    static let discovery = "homeassistant"

    /// A doorbell on the broker's TLS listener with the password in a file; `camera` runs the
    /// porch footage, `mqtt` adds lines to `[mqtt]`.
    static func config(
        _ directory: TemporaryDirectory, broker: MQTTBroker, camera: Bool = false, mqtt: String = ""
    ) throws -> String {
        let passwordFile = try directory.write("mqtt-password", MQTTBroker.password + "\n")
        chmod(passwordFile, 0o600)
        let cameraSection =
            camera
            ? """
            [camera]
            source = "file"
            file = "\(try comingAndGoing(directory))"
            fps = 10
            loop = true
            preroll_s = 1
            postroll_s = 1
            [motion]
            analysis_fps = 2
            """ : "[camera]\nenabled = false"
        return try directory.write(
            "porchlight.toml",
            """
            [device]
            name = "Test porch"
            [button]
            source = "simulated"
            ring_window_s = 600
            \(cameraSection)
            [audio]
            enabled = false
            [storage]
            state_directory = "\(directory.path)"
            runtime_directory = "\(directory.path)"
            [log]
            target = "console"
            level = "debug"
            [mqtt]
            enabled = true
            host = "localhost"
            port = \(broker.tlsPort)
            tls = true
            ca_file = "\(broker.caFile)"
            username = "\(MQTTBroker.user)"
            password_file = "\(passwordFile)"
            retry_initial_s = 0.2
            retry_max_s = 1
            \(mqtt)
            """)
    }

    /// Semi-synthetic footage for motion that starts and ends: the demo's porch clip (people
    /// walking) for 5 s, then its first frame (the background the detector learnt) held for 8 s, looped.
    static func comingAndGoing(_ directory: TemporaryDirectory) throws -> String {
        let path = directory.path + "/coming-and-going.mjpeg"
        if FileManager.default.fileExists(atPath: path) { return path }
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(repositoryRoot)/demo/porch_640x480.mjpeg")))
        var frames: [ArraySlice<UInt8>] = []
        var start = 0
        var index = 0
        while index + 1 < bytes.count && frames.count < 50 {
            if bytes[index] == 0xFF && bytes[index + 1] == 0xD9 {
                frames.append(bytes[start..<index + 2])
                start = index + 2
            }
            index += 1
        }
        try #require(frames.count == 50)
        var out = Data()
        for frame in frames { out.append(contentsOf: frame) }
        for _ in 0..<80 { out.append(contentsOf: frames[0]) }
        try out.write(to: URL(fileURLWithPath: path))
        return path
    }

    static func start(_ configPath: String) async throws -> ChildProcess {
        let daemon = try ChildProcess("porchlightd", arguments: ["--config", configPath])
        try daemon.start()
        try #require(await daemon.notify.waitFor("READY=1") != nil, "stderr:\n\(daemon.stderr.suffix(3000))")
        return daemon
    }

    static func ctl(_ configPath: String, _ words: String...) async throws -> ChildProcess {
        let ctl = try ChildProcess("porchlightctl", arguments: words + ["--config", configPath])
        #expect(try await ctl.runToExit() == 0, "stderr:\n\(ctl.stderr)")
        return ctl
    }

    static func json(_ text: String) -> [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]) ?? [:]
    }

    @Test(
        "discovery for every entity with Home Assistant's required keys and one device, a press event per press, the ring and Frigate-shaped topics, and all of it again on Home Assistant's birth"
    )
    func discoveryAndRing() async throws {
        let broker = try await MQTTBroker()
        let subscriber = try await MQTTSubscriber(
            broker: broker, topics: ["\(Self.discovery)/#", "\(Self.base)/#"], tls: true)
        let directory = try TemporaryDirectory()
        let configPath = try Self.config(directory, broker: broker)
        let daemon = try await Self.start(configPath)
        #expect(
            await eventually(timeout: .seconds(30)) { subscriber.payloads("\(Self.base)/availability") == ["online"] },
            "stderr:\n\(daemon.stderr.suffix(3000))")

        // Discovery: the documented required keys of each component (home-assistant.io, MQTT).
        let required: [String: [String]] = [
            "event": ["state_topic", "event_types"], "switch": ["command_topic"], "sensor": ["state_topic"],
            "binary_sensor": ["state_topic"], "image": ["image_topic"],
        ]
        let configs = { subscriber.messages().filter { ($0["topic"] as? String)?.hasSuffix("/config") == true } }
        #expect(
            await eventually(timeout: .seconds(30)) { configs().filter { ($0["size"] as? Int ?? 0) > 0 }.count == 4 })
        var devices: [NSDictionary] = []
        var found: [String: [String: Any]] = [:]
        for message in configs() where (message["size"] as? Int ?? 0) > 0 {
            let topic = try #require(message["topic"] as? String)
            let parts = topic.split(separator: "/").map(String.init)
            #expect(parts.count == 5 && parts[0] == Self.discovery && parts[2] == "test_porch", "\(topic)")
            let body = Self.json(message["payload"] as? String ?? "")
            for key in required[parts[1]] ?? ["?"] { #expect(body[key] != nil, "\(topic) lacks \(key)") }
            #expect(body["unique_id"] as? String == "porchlight_test_porch_\(parts[3])")
            #expect(body["availability_topic"] as? String == "\(Self.base)/availability")
            devices.append(try #require(body["device"] as? NSDictionary))
            found[parts[3]] = body
        }
        #expect(Set(found.keys) == ["doorbell", "do_not_disturb", "chime_mute", "status"])
        // Retained: a client that subscribes later (Home Assistant after a restart) gets them all.
        let late = try await MQTTSubscriber(broker: broker, topics: ["\(Self.discovery)/#"], tls: true)
        #expect(
            await eventually(timeout: .seconds(30)) {
                late.messages().filter { $0["retain"] as? Bool == true }.count == 4
            })
        await late.stop()
        #expect(Set(devices).count == 1, "entities on more than one device: \(devices)")
        #expect((devices.first?["identifiers"] as? [String]) == ["porchlight_test_porch"])
        let doorbell = try #require(found["doorbell"])
        #expect(doorbell["device_class"] as? String == "doorbell")
        #expect(Set(doorbell["event_types"] as? [String] ?? []).isSuperset(of: ["press", "long_press"]))
        // No camera: no motion sensor and no picture entity.
        #expect(found["motion"] == nil && found["snapshot"] == nil)
        #expect(await eventually { !subscriber.payloads("\(Self.base)/status").isEmpty })
        #expect(subscriber.payloads("\(Self.base)/do_not_disturb").last == "OFF")

        // A ring: the press event (with its count and id), the ring topic, Frigate's `new`.
        // Do not disturb on: the ring's chime is silenced, and every press of it says so.
        _ = try await Self.ctl(configPath, "dnd", "on")
        let before = ContinuousClock.now
        _ = try await Self.ctl(configPath, "ring")
        #expect(await eventually(timeout: .seconds(30)) { subscriber.payloads("\(Self.base)/doorbell").count == 1 })
        print("porchlightctl ring to the press event at the subscriber: \(ContinuousClock.now - before)")
        let press = Self.json(try #require(subscriber.payloads("\(Self.base)/doorbell").first))
        #expect(press["event_type"] as? String == "press")
        #expect(press["press_count"] as? Int == 1)
        let id = try #require(press["event_id"] as? String)
        #expect(await eventually { subscriber.payloads("\(Self.base)/event").count == 1 })
        let new = Self.json(try #require(subscriber.payloads("\(Self.base)/event").first))
        #expect(new["type"] as? String == "new")
        let after = try #require(new["after"] as? [String: Any])
        #expect(
            after["id"] as? String == id && after["label"] as? String == "ring"
                && after["camera"] as? String == "test_porch")
        #expect(await eventually { subscriber.payloads("\(Self.base)/ring").count == 1 })
        #expect(Self.json(subscriber.payloads("\(Self.base)/ring")[0])["event_id"] as? String == id)

        _ = try await Self.ctl(configPath, "ring")
        #expect(await eventually(timeout: .seconds(30)) { subscriber.payloads("\(Self.base)/doorbell").count == 2 })
        let second = Self.json(subscriber.payloads("\(Self.base)/doorbell")[1])
        #expect(second["press_count"] as? Int == 2 && second["event_id"] as? String == id)
        #expect(await eventually { subscriber.payloads("\(Self.base)/event").count == 2 })
        #expect(Self.json(subscriber.payloads("\(Self.base)/event")[1])["type"] as? String == "update")
        #expect(await eventually { subscriber.payloads("\(Self.base)/ring").count == 2 })
        #expect(
            subscriber.payloads("\(Self.base)/ring").map { Self.json($0)["chime_silenced"] as? Bool } == [true, true])

        // Home Assistant restarts: its birth message brings discovery and the states again.
        let configsBefore = configs().count
        try subscriber.publish("\(Self.discovery)/status", "online")
        #expect(await eventually(timeout: .seconds(30)) { configs().count >= configsBefore + 4 })

        // SIGTERM: the daemon says offline itself (a clean disconnect has no will).
        #expect(await daemon.terminate() == 0, "stderr:\n\(daemon.stderr.suffix(3000))")
        #expect(await eventually { subscriber.payloads("\(Self.base)/availability").last == "offline" })
        await subscriber.stop()
        await broker.stop()
    }

    @Test("killed with SIGKILL, the last will marks the doorbell unavailable")
    func lastWill() async throws {
        let broker = try await MQTTBroker()
        let subscriber = try await MQTTSubscriber(broker: broker, topics: ["\(Self.base)/availability"], tls: true)
        let directory = try TemporaryDirectory()
        // A short keepalive is not needed: the broker sees the socket close.
        let daemon = try await Self.start(try Self.config(directory, broker: broker))
        #expect(
            await eventually(timeout: .seconds(30)) { subscriber.payloads("\(Self.base)/availability") == ["online"] })
        daemon.signal(SIGKILL)
        #expect(
            await eventually(timeout: .seconds(30)) {
                subscriber.payloads("\(Self.base)/availability").last == "offline"
            })
        await subscriber.stop()
        await broker.stop()
    }

    @Test(
        "switch commands are refused while mqtt.accept_commands is off; on, do not disturb and chime mute follow them and each change is an access-log entry"
    )
    func commands() async throws {
        let broker = try await MQTTBroker()
        let subscriber = try await MQTTSubscriber(broker: broker, topics: ["\(Self.base)/#"], tls: true)
        let directory = try TemporaryDirectory()
        let configPath = try Self.config(directory, broker: broker)
        var daemon = try await Self.start(configPath)
        #expect(
            await eventually(timeout: .seconds(30)) { subscriber.payloads("\(Self.base)/do_not_disturb").last == "OFF" }
        )
        try subscriber.publish("\(Self.base)/do_not_disturb/set", "ON")
        #expect(
            await eventually(timeout: .seconds(30)) {
                daemon.stderr.contains("MQTT command refused: mqtt.accept_commands is off.")
            })
        #expect(try await Self.ctl(configPath, "dnd").stdout.contains("do not disturb is auto"))
        #expect(!daemon.stderr.contains("access=mqtt-command"))
        #expect(await daemon.terminate() == 0)

        let enabled = try Self.config(directory, broker: broker, mqtt: "accept_commands = true")
        daemon = try await Self.start(enabled)
        let states = subscriber.payloads("\(Self.base)/do_not_disturb").count
        #expect(
            await eventually(timeout: .seconds(30)) {
                subscriber.payloads("\(Self.base)/do_not_disturb").count > states
            })
        try subscriber.publish("\(Self.base)/do_not_disturb/set", "ON")
        #expect(
            await eventually(timeout: .seconds(30)) { subscriber.payloads("\(Self.base)/do_not_disturb").last == "ON" })
        #expect(try await Self.ctl(enabled, "dnd").stdout.contains("do not disturb is on"))
        try subscriber.publish("\(Self.base)/chime_mute/set", "ON")
        #expect(await eventually(timeout: .seconds(30)) { subscriber.payloads("\(Self.base)/chime_mute").last == "ON" })
        // Not ON or OFF: refused, nothing changes.
        try subscriber.publish("\(Self.base)/do_not_disturb/set", "maybe")
        #expect(await eventually(timeout: .seconds(30)) { daemon.stderr.contains("expected ON or OFF") })
        try subscriber.publish("\(Self.base)/do_not_disturb/set", "OFF")
        #expect(
            await eventually(timeout: .seconds(30)) { subscriber.payloads("\(Self.base)/do_not_disturb").last == "OFF" }
        )
        #expect(try await Self.ctl(enabled, "dnd").stdout.contains("do not disturb is auto"))
        let entries = daemon.stderr.split(separator: "\n").filter { $0.contains("access=mqtt-command") }
        #expect(entries.count == 3, "\(entries)")
        #expect(entries.first?.contains("do not disturb on") == true)
        #expect(await daemon.terminate() == 0)
        await subscriber.stop()
        await broker.stop()
    }

    @Test(
        "with the camera: motion ON then OFF with its zones, and no picture on the broker unless mqtt.snapshots is on; on, each snapshot is a JPEG and an access-log entry"
    )
    func motionAndSnapshots() async throws {
        let broker = try await MQTTBroker()
        let subscriber = try await MQTTSubscriber(
            broker: broker, topics: ["\(Self.discovery)/#", "\(Self.base)/#"], tls: true)
        let directory = try TemporaryDirectory()
        let configPath = try Self.config(directory, broker: broker, camera: true)
        var daemon = try await Self.start(configPath)
        let motion = { subscriber.payloads("\(Self.base)/motion") }
        // The footage has people walking through: motion starts and ends.
        #expect(await eventually(timeout: .seconds(120)) { motion().contains("ON") }, "\(daemon.stderr.suffix(2000))")
        #expect(await eventually(timeout: .seconds(120)) { motion().drop { $0 != "ON" }.contains("OFF") })
        let attributes = subscriber.payloads("\(Self.base)/motion/attributes").map(Self.json)
        #expect(attributes.contains { ($0["zones"] as? [String])?.isEmpty == false }, "\(attributes)")
        let frigate = subscriber.payloads("\(Self.base)/event").map(Self.json)
        #expect(
            frigate.contains { $0["type"] as? String == "new" } && frigate.contains { $0["type"] as? String == "end" })
        // A ring's and the motion's snapshots would have gone by now; none did, nor a picture entity.
        _ = try await Self.ctl(configPath, "ring")
        #expect(await eventually(timeout: .seconds(30)) { subscriber.payloads("\(Self.base)/doorbell").count == 1 })
        #expect(
            await eventually(timeout: .seconds(60)) {
                daemon.stderr.contains("Motion ended.") && motion().filter { $0 == "OFF" }.count >= 2
            })
        #expect(subscriber.messages("\(Self.base)/snapshot").isEmpty)
        #expect(
            !subscriber.messages().contains {
                ($0["topic"] as? String)?.contains("/image/") == true && ($0["size"] as? Int ?? 0) > 0
            })
        #expect(await daemon.terminate() == 0)

        daemon = try await Self.start(
            try Self.config(directory, broker: broker, camera: true, mqtt: "snapshots = true"))
        #expect(
            await eventually(timeout: .seconds(30)) {
                subscriber.messages("\(Self.discovery)/image/test_porch/snapshot/config").contains {
                    ($0["size"] as? Int ?? 0) > 0
                }
            })
        _ = try await Self.ctl(configPath, "ring")
        #expect(
            await eventually(timeout: .seconds(60)) {
                subscriber.messages("\(Self.base)/snapshot").contains { $0["jpeg"] as? Bool == true }
            })
        #expect(await eventually { daemon.stderr.contains("access=mqtt-snapshot") })
        #expect(await daemon.terminate() == 0)
        await subscriber.stop()
        await broker.stop()
    }

    @Test(
        "broker faults: down at start, refusing the password, restarted mid-run; the chime's ring and the outbox carry on, each fault is logged once, a ring too old is not published late"
    )
    func brokerFaults() async throws {
        let broker = try await MQTTBroker(persistent: true)
        await broker.stop()
        let directory = try TemporaryDirectory()
        let configPath = try Self.config(directory, broker: broker, mqtt: "max_event_age_s = 1")
        let daemon = try await Self.start(configPath)
        _ = try await Self.ctl(configPath, "ring")
        #expect(await eventually(timeout: .seconds(30)) { daemon.stderr.contains("notice porchlightd.events: Ring.") })
        #expect(try await Self.ctl(configPath, "status").stdout.contains("outbox: 1 waiting"))
        // Retried every second at most; said once.
        #expect(
            await eventually(timeout: .seconds(30)) {
                daemon.stderr.contains("waited longer than mqtt.max_event_age_s")
            })
        #expect(
            daemon.stderr.components(separatedBy: "Cannot connect to the MQTT broker").count == 2,
            "\(daemon.stderr.suffix(3000))")
        #expect(daemon.stderr.contains("nothing listens on localhost:\(broker.tlsPort)"))

        try await broker.start()
        let subscriber = try await MQTTSubscriber(broker: broker, topics: ["\(Self.base)/#"], tls: true)
        #expect(
            await eventually(timeout: .seconds(30)) {
                subscriber.payloads("\(Self.base)/availability").last == "online"
            })
        // The ring from while the broker was down is not published: the visitor is long gone.
        _ = try await Self.ctl(configPath, "ring")
        #expect(await eventually(timeout: .seconds(30)) { subscriber.payloads("\(Self.base)/doorbell").count == 1 })
        #expect(Self.json(subscriber.payloads("\(Self.base)/doorbell")[0])["press_count"] as? Int == 2)

        // Restarted mid-run: a ring while it is away goes once it is back, if still fresh.
        await subscriber.stop()
        await broker.stop()
        #expect(
            await eventually(timeout: .seconds(30)) { daemon.stderr.contains("Lost the MQTT broker; reconnecting.") })
        #expect(await daemon.terminate() == 0)

        // Restarted mid-run: a ring while it is away goes once it is back, if still fresh. The
        // subscriber has a session the broker keeps across its clean restart, so it cannot miss
        // the publication by reconnecting later than the daemon.
        try await broker.start()
        let later = try await MQTTSubscriber(
            broker: broker, topics: ["\(Self.base)/doorbell"], tls: true, session: "porchlight-test-later")
        let fresh = try Self.config(directory, broker: broker, mqtt: "max_event_age_s = 300")
        let second = try await Self.start(fresh)
        #expect(await eventually(timeout: .seconds(30)) { second.stderr.contains("Connected to the MQTT broker.") })
        await broker.stop(graceful: true)
        #expect(
            await eventually(timeout: .seconds(30)) { second.stderr.contains("Lost the MQTT broker; reconnecting.") },
            "\(second.stderr.suffix(3000))")
        _ = try await Self.ctl(fresh, "ring")
        #expect(await eventually(timeout: .seconds(30)) { second.stderr.contains("notice porchlightd.events: Ring.") })
        try await broker.start()
        #expect(await eventually(timeout: .seconds(60)) { later.payloads("\(Self.base)/doorbell").count == 1 })
        #expect(await second.terminate() == 0)
        await later.stop()

        // The wrong password: named once with the fix, and the ring still recorded.
        let wrong = try directory.write("wrong-password", "not it\n")
        let refused = try String(contentsOfFile: Self.config(directory, broker: broker), encoding: .utf8)
            .replacingOccurrences(
                of: directory.path + "/mqtt-password", with: wrong)
        let third = try await Self.start(try directory.write("refused.toml", refused))
        #expect(await eventually(timeout: .seconds(30)) { third.stderr.contains("not authorised") })
        _ = try await Self.ctl(directory.path + "/refused.toml", "ring")
        #expect(
            await eventually(timeout: .seconds(30)) {
                third.stderr.contains("notice porchlightd.events: More presses")
                    || third.stderr.contains("notice porchlightd.events: Ring.")
            })
        #expect(third.stderr.contains("check mqtt.username and mqtt.password"))
        #expect(third.stderr.components(separatedBy: "Cannot connect to the MQTT broker").count == 2)
        #expect(await third.terminate() == 0)
        await broker.stop()
    }

    @Test(
        "porchlightctl hw mqtt: what the broker answered, and the fix for refused credentials, a TLS name mismatch and a wrong port"
    )
    func hardwareCheck() async throws {
        let broker = try await MQTTBroker()
        let subscriber = try await MQTTSubscriber(broker: broker, topics: ["\(Self.base)/test"], tls: true)
        let directory = try TemporaryDirectory()
        let good = try Self.config(directory, broker: broker)
        let check = try ChildProcess("porchlightctl", arguments: ["hw", "mqtt", "--config", good])
        #expect(try await check.runToExit() == 0, "stderr:\n\(check.stderr)")
        #expect(check.stdout.contains("CONNACK 0") && check.stdout.contains("(PUBACK)"), "\(check.stdout)")
        #expect(await eventually { subscriber.payloads("\(Self.base)/test").count == 1 })
        let text = try String(contentsOfFile: good, encoding: .utf8)
        let cases: [(String, String, String)] = [
            (directory.path + "/mqtt-password", try directory.write("wrong", "not it\n"), "check mqtt.username"),
            ("host = \"localhost\"", "host = \"127.0.0.1\"", "is not valid for \"127.0.0.1\""),
            ("port = \(broker.tlsPort)", "port = \(broker.port)", "the broker's TLS listener"),
            ("port = \(broker.tlsPort)", "port = 1", "check mqtt.port"),
        ]
        for (old, new, hint) in cases {
            let path = try directory.write("case.toml", text.replacingOccurrences(of: old, with: new))
            let failing = try ChildProcess(
                "porchlightctl", arguments: ["hw", "mqtt", "--config", path, "--timeout", "20"])
            #expect(try await failing.runToExit(timeout: .seconds(60)) == 69, "\(new): \(failing.stderr)")
            #expect(failing.stderr.contains(hint), "\(new): \(failing.stderr)")
        }
        await subscriber.stop()
        await broker.stop()
    }

    @Test(
        "each [mqtt] mistake is exit 78 naming its key",
        arguments: [
            ("keepalive_s = 1", "mqtt.keepalive_s"), ("protocol = \"4\"", "mqtt.protocol"),
            ("topic_prefix = \"a/#\"", "mqtt.topic_prefix"), ("device_id = \"Front Door\"", "mqtt.device_id"),
            ("max_event_age_s = 0", "mqtt.max_event_age_s"),
            ("pinned_certificate = \"/etc/hostname\"", "mqtt.pinned_certificate"),
            ("password = \"x\"", "mqtt.password_file"), ("snapshot = true", "mqtt.snapshot"),
        ])
    func badConfig(line: String, key: String) async throws {
        let broker = try await MQTTBroker()
        let directory = try TemporaryDirectory()
        let configPath = try Self.config(directory, broker: broker, mqtt: line)
        let check = try ChildProcess("porchlightd", arguments: ["--check-config", configPath])
        #expect(try await check.runToExit() == 78, "stderr:\n\(check.stderr)")
        #expect(check.stderr.contains(key), "stderr:\n\(check.stderr)")
        let daemon = try ChildProcess("porchlightd", arguments: ["--config", configPath])
        #expect(try await daemon.runToExit() == 78, "stderr:\n\(daemon.stderr)")
        await broker.stop()
    }
}

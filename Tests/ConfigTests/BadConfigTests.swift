import Config
import Testing

/// One broken file, and what its first error must say.
struct BadConfig: Sendable, CustomTestStringConvertible {
    var name: String
    var toml: String
    var keyPath: String
    var gist: String
    var hint: String? = nil
    var line: Int? = nil
    var testDescription: String { name }
}

/// A valid start that each case breaks in one place.
let button = "[button]\nline = 17\n"

let badConfigs: [BadConfig] = [
    BadConfig(
        name: "syntax error", toml: "[button\nline = 17\n", keyPath: "", gist: "TOML syntax error", line: 1),
    // Found by fuzzing: toml++ aborted the process on a control character in a key.
    BadConfig(
        name: "control character in a key", toml: button + "[[\u{18}\u{0}x]]\n", keyPath: "",
        gist: "control character U+0018 is not allowed", line: 3),
    BadConfig(
        name: "a table header without a name", toml: button + "[\n", keyPath: "",
        gist: "a table header needs a name on its line", line: 3),
    BadConfig(
        name: "an inline table key that is not a key", toml: button + "point = { = 1 }\n", keyPath: "",
        gist: "an inline table needs a name", line: 3),
    BadConfig(
        name: "an array closed by a brace", toml: button + "[chime]\nquiet_hours = [}\n", keyPath: "",
        gist: "a value is missing after [ in an array", line: 4),
    BadConfig(
        name: "a key with no value", toml: button + "debounce_ms =\n", keyPath: "",
        gist: "a value is missing after =", line: 3),
    BadConfig(
        name: "a letter outside ASCII in a key", toml: button + "# a comment may say Tür\n[t\u{FFFD}r]\n", keyPath: "",
        gist: "\"\u{FFFD}\" is allowed only in a string or a comment", line: 4),
    BadConfig(
        name: "wrong type", toml: button + "debounce_ms = \"fast\"\n", keyPath: "button.debounce_ms",
        gist: "expected a number, found a string (\"fast\")", line: 3),
    BadConfig(
        name: "unknown key with a suggestion", toml: button + "debounse_ms = 30\n", keyPath: "button.debounse_ms",
        gist: "unknown key", hint: "did you mean 'debounce_ms'?", line: 3),
    BadConfig(
        name: "unknown section with a suggestion", toml: button + "[moton]\nenabled = true\n", keyPath: "moton",
        gist: "unknown key", hint: "did you mean 'motion'?", line: 3),
    BadConfig(
        name: "frame rate zero", toml: button + "[camera]\nfps = 0\n", keyPath: "camera.fps",
        gist: "expected a value from 1 to 120 frames per second, found 0", line: 4),
    BadConfig(
        name: "negative pre-roll", toml: button + "[camera]\npreroll_s = -2\n", keyPath: "camera.preroll_s",
        gist: "expected a value from 0 to 30 s, found -2"),
    BadConfig(
        name: "missing button line", toml: "[button]\nchip = \"gpiochip0\"\n", keyPath: "button.line",
        gist: "missing required value",
        hint: "for BCM pin 17 write line = 17, or line = \"GPIO17\"; or set enabled = false"),
    BadConfig(
        name: "polygon with two points",
        toml: button + "[[motion.zones]]\npoints = [[0, 0], [10, 10]]\n", keyPath: "motion.zones[0].points",
        gist: "expected at least 3 points for a zone, found 2", line: 4),
    BadConfig(
        name: "polygon outside the frame",
        toml: button
            + "[[motion.zones]]\npoints = [[0, 0], [10, 0], [5, 5]]\n[[motion.zones]]\npoints = [[0, 0], [10, 0], [1281, 10]]\n",
        keyPath: "motion.zones[1].points[2]", gist: "expected a point inside the 1280×720 frame, found [1281, 10]",
        line: 6),
    BadConfig(
        name: "point that is not a pair",
        toml: button + "[[motion.masks]]\npoints = [[0, 0], [10, 0, 3], [5, 5]]\n",
        keyPath: "motion.masks[0].points[1]",
        gist: "expected a point [x, y] of two integers, found an array"),
    BadConfig(
        name: "polygon without area",
        toml: button + "[[privacy.masks]]\npoints = [[0, 0], [10, 10], [20, 20]]\n", keyPath: "privacy.masks[0].points",
        gist: "lie on one line"),
    BadConfig(
        name: "privacy mask without points", toml: button + "[[privacy.masks]]\nname = \"window\"\n",
        keyPath: "privacy.masks[0].points", gist: "missing required value", line: 3),
    BadConfig(
        name: "misspelt choice", toml: button + "bias = \"pullup\"\n", keyPath: "button.bias",
        gist: "expected one of \"pull-up\", \"pull-down\", \"disabled\", \"as-is\", found \"pullup\"",
        hint: "did you mean \"pull-up\"?"),
    BadConfig(
        name: "analysis faster than capture", toml: button + "[camera]\nfps = 4\n[motion]\nanalysis_fps = 5\n",
        keyPath: "motion.analysis_fps", gist: "expected at most camera.fps (4), found 5", line: 6),
    BadConfig(
        name: "long press shorter than debounce", toml: button + "debounce_ms = 300\nlong_press_ms = 200\n",
        keyPath: "button.long_press_ms", gist: "expected more than debounce_ms (300), found 200", line: 4),
    BadConfig(
        name: "relay on the button's line", toml: button + "[chime]\nrelay_line = 17\n", keyPath: "chime.relay_line",
        gist: "the relay cannot use the button's line 17"),
    BadConfig(
        name: "IR LEDs on the button's line", toml: button + "[ir]\nline = 17\n", keyPath: "ir.line",
        gist: "the IR LEDs cannot use the button's line 17"),
    BadConfig(
        name: "IR LEDs on the relay's line", toml: button + "[chime]\nrelay_line = 27\n[ir]\nline = 27\n",
        keyPath: "ir.line", gist: "the IR LEDs cannot use the chime relay's line 27"),
    BadConfig(
        name: "IR hours that are not spans", toml: button + "[ir]\nline = 22\non_hours = [\"dusk-dawn\"]\n",
        keyPath: "ir.on_hours[0]", gist: "expected a span \"HH:MM-HH:MM\""),
    BadConfig(
        name: "IR by darkness without a place", toml: button + "[ir]\nline = 22\nschedule = \"dark\"\nlongitude = 13\n",
        keyPath: "ir.latitude", gist: "schedule = \"dark\" needs the doorbell's place"),
    BadConfig(
        name: "IR latitude off the globe",
        toml: button + "[ir]\nline = 22\nschedule = \"dark\"\nlatitude = 152.5\nlongitude = 13\n",
        keyPath: "ir.latitude", gist: "found 152.5"),
    BadConfig(
        name: "sync over plain HTTP", toml: button + "[sync]\nurl = \"http://hub:8443\"\n", keyPath: "sync.url",
        gist: "only reached over HTTPS"),
    BadConfig(
        name: "sync port out of range", toml: button + "[sync]\nurl = \"https://hub:99999\"\n", keyPath: "sync.url",
        gist: "the port must be a number from 1 to 65535"),
    BadConfig(
        name: "file camera without a file", toml: button + "[camera]\nsource = \"file\"\n", keyPath: "camera.file",
        gist: "missing required value", hint: "set file = \"/path/to/footage.mjpeg\", or source = \"v4l2\""),
    BadConfig(
        name: "chime sound that is not a WAV path", toml: button + "[chime]\nsound = \"ding.mp3\"\n",
        keyPath: "chime.sound", gist: "an absolute path to a .wav file, found \"ding.mp3\""),
    BadConfig(
        name: "ALSA buffer shorter than two periods", toml: button + "[audio]\nperiod_ms = 40\nbuffer_ms = 60\n",
        keyPath: "audio.buffer_ms", gist: "expected at least two periods (80 ms), found 60"),
    BadConfig(
        name: "quick reply without a file", toml: button + "[[audio.quick_replies]]\nname = \"Hello\"\n",
        keyPath: "audio.quick_replies[0].file", gist: "missing required value"),
    BadConfig(
        name: "duplicate quick reply names",
        toml: button
            + "[[audio.quick_replies]]\nname = \"Hi\"\nfile = \"/a.wav\"\n[[audio.quick_replies]]\nname = \"Hi\"\nfile = \"/b.wav\"\n",
        keyPath: "audio.quick_replies[1].name", gist: "duplicate quick reply name \"Hi\"", line: 7),
    BadConfig(
        name: "unknown log level", toml: button + "[log]\nlevel = \"verbose\"\n", keyPath: "log.level",
        gist: "expected one of \"trace\", \"debug\", \"info\", \"notice\", \"warning\", \"error\", \"critical\""),
    BadConfig(
        name: "section that is not a table", toml: "motion = 5\n" + button, keyPath: "motion",
        gist: "expected a table ([motion]), found an integer (5)"),
    BadConfig(
        name: "zones that are not tables", toml: button + "[motion]\nzones = 3\n", keyPath: "motion.zones",
        gist: "expected an array of tables ([[motion.zones]])"),
    BadConfig(
        name: "relative state directory", toml: button + "[storage]\nstate_directory = \"var/lib\"\n",
        keyPath: "storage.state_directory", gist: "expected an absolute path"),
    BadConfig(
        name: "negative GPIO line", toml: "[button]\nline = -1\n", keyPath: "button.line",
        gist: "expected a line offset from 0 to 1023, found -1", line: 2),
    BadConfig(
        name: "string for a boolean", toml: button + "active_low = \"yes\"\n", keyPath: "button.active_low",
        gist: "expected true or false, found a string (\"yes\")"),
    BadConfig(
        name: "camera device outside /dev", toml: button + "[camera]\ndevice = \"video0\"\n", keyPath: "camera.device",
        gist: "expected a device path under /dev/"),
    BadConfig(
        name: "retry ceiling below the first retry",
        toml: button + "[sync]\nretry_initial_s = 30\nretry_max_s = 10\n", keyPath: "sync.retry_max_s",
        gist: "expected at least retry_initial_s"),
    BadConfig(
        name: "empty device name", toml: button + "[device]\nname = \"\"\n", keyPath: "device.name",
        gist: "expected a non-empty string"),
    BadConfig(
        name: "quiet hours that are not a time span",
        toml: button + "[chime]\nquiet_hours = [\"22:00-07:00\", \"22:00-25:00\"]\n", keyPath: "chime.quiet_hours[1]",
        gist: "expected a span \"HH:MM-HH:MM\" with different start and end, found a string (\"22:00-25:00\")", line: 4),
    BadConfig(
        name: "relative runtime directory", toml: button + "[storage]\nruntime_directory = \"run\"\n",
        keyPath: "storage.runtime_directory", gist: "expected an absolute path"),
    BadConfig(
        name: "float where an integer is needed", toml: button + "[camera]\nwidth = 1280.5\n", keyPath: "camera.width",
        gist: "expected an integer, found a number (1280.5)"),
    BadConfig(
        name: "an MQTT host with its port", toml: button + "[mqtt]\nhost = \"broker:1883\"\n", keyPath: "mqtt.host",
        gist: "expected a host name or address", hint: "the port is mqtt.port"),
    BadConfig(
        name: "an MQTT password and a password file",
        toml: button + "[mqtt]\nusername = \"u\"\npassword = \"p\"\npassword_file = \"/p\"\n",
        keyPath: "mqtt.password_file", gist: "not both"),
    BadConfig(
        name: "an MQTT password without a user", toml: button + "[mqtt]\npassword = \"p\"\n", keyPath: "mqtt.username",
        gist: "a password needs a username"),
    BadConfig(
        name: "an MQTT CA without TLS", toml: button + "[mqtt]\nca_file = \"/ca.pem\"\n", keyPath: "mqtt.tls",
        gist: "expected tls = true"),
    BadConfig(
        name: "an MQTT device id with capitals", toml: button + "[mqtt]\ndevice_id = \"Front\"\n",
        keyPath: "mqtt.device_id",
        gist: "expected 1 to 32 of a-z"),
    BadConfig(
        name: "an MQTT client id too long for 3.1.1",
        toml: button + "[mqtt]\nclient_id = \"porchlight-front-door-downstairs\"\n",
        keyPath: "mqtt.client_id", gist: "at most 23 ASCII characters"),
    BadConfig(
        name: "an MQTT discovery prefix with a wildcard", toml: button + "[mqtt]\ndiscovery_prefix = \"home/+\"\n",
        keyPath: "mqtt.discovery_prefix", gist: "without + or #"),
    BadConfig(
        name: "an MQTT press event Home Assistant does not know", toml: button + "[mqtt]\npress_event = \"ding\"\n",
        keyPath: "mqtt.press_event", gist: "expected one of \"press\", \"ring\""),
]

@Suite("Bad configuration files", .timeLimit(.minutes(10)))
struct BadConfigTests {
    @Test("each bad file gives an error with the key path and the gist", arguments: badConfigs)
    func badConfigIsReported(_ bad: BadConfig) throws {
        let error = #expect(throws: ConfigErrors.self) { try ConfigLoader.parse(bad.toml, file: "porch.toml") }
        let first = try #require(error?.errors.first)
        #expect(first.file == "porch.toml")
        #expect(first.keyPath == bad.keyPath)
        #expect(first.message.contains(bad.gist), "message was: \(first.message)")
        if let hint = bad.hint {
            #expect(first.hint == hint)
        }
        if let line = bad.line {
            #expect(first.line == line)
        }
    }

    @Test("there are at least twenty distinct bad configurations")
    func enoughCases() {
        #expect(Set(badConfigs.map(\.keyPath)).count >= 20)
    }

    @Test("every error in a file is reported, in file order, each with its line")
    func severalErrorsAreAllReported() throws {
        let text = """
            [device]
            nmae = "Porch"
            [button]
            line = 17
            debounce_ms = 0
            [camera]
            fps = 0
            preroll_s = -1
            [[motion.zones]]
            points = [[0, 0], [1, 1]]
            [log]
            level = "loud"
            """
        let error = #expect(throws: ConfigErrors.self) { try ConfigLoader.parse(text, file: "porch.toml") }
        let errors = try #require(error?.errors)
        #expect(
            errors.map(\.keyPath) == [
                "device.nmae", "button.debounce_ms", "camera.fps", "camera.preroll_s", "motion.zones[0].points",
                "log.level",
            ])
        #expect(errors.map(\.line) == [2, 5, 7, 8, 10, 12])
        #expect(error?.description.hasSuffix("6 configuration errors") == true)
    }

    @Test("an error's text gives file, line, key path, message and hint")
    func errorText() throws {
        let error = #expect(throws: ConfigErrors.self) {
            try ConfigLoader.parse(button + "debounse_ms = 30\n", file: "/etc/porchlight/porchlight.toml")
        }
        #expect(
            error?.errors.first?.description
                == "/etc/porchlight/porchlight.toml:3: button.debounse_ms: unknown key\n    hint: did you mean 'debounce_ms'?"
        )
    }

    @Test("an unknown key far from every known key lists the known keys instead of guessing")
    func unknownKeyWithoutSuggestion() throws {
        let error = #expect(throws: ConfigErrors.self) {
            try ConfigLoader.parse("[log]\nzzzzzzzz = 1\n", file: "porch.toml")
        }
        let hint = try #require(error?.errors.first { $0.keyPath == "log.zzzzzzzz" }?.hint)
        #expect(hint == "known keys here: fault_interval_s, level, target")
    }
}

@Suite("[mqtt] defaults")
struct MQTTConfigTests {
    @Test("off by default; the device id comes from the device's name, the port from TLS")
    func defaults() throws {
        let config = try ConfigLoader.parse("[device]\nname = \"Front door (side)\"\n" + button, file: "t.toml")
        #expect(!config.mqtt.enabled && !config.mqtt.snapshots && !config.mqtt.acceptCommands)
        #expect(config.mqtt.deviceID == "front_door_side")
        #expect(config.mqtt.resolvedClientID == "porchlight-front_door_side")
        #expect(config.mqtt.resolvedPort == 1883)
        let foreign = try ConfigLoader.parse("[device]\nname = \"玄関\"\n" + button, file: "t.toml")
        #expect(foreign.mqtt.deviceID == "doorbell")
        let tls = try ConfigLoader.parse(button + "[mqtt]\ntls = true\nhost = \"::1\"\n", file: "t.toml")
        #expect(tls.mqtt.resolvedPort == 8883 && tls.mqtt.host == "::1")
    }
}

import Config
import DoorbellCore
import DoorbellTestKit
import Testing

@Suite("The shipped configuration", .timeLimit(.minutes(10)))
struct ShippedConfigTests {
    @Test("config/porchlight.toml parses as shipped")
    func shippedExampleParses() throws {
        let config = try ConfigLoader.load(path: "\(repositoryRoot)/config/porchlight.toml")
        #expect(config.button.line == .offset(17))
    }

    @Test("the values written in config/porchlight.toml are the built-in defaults")
    func shippedExampleDocumentsTheDefaults() throws {
        let shipped = try ConfigLoader.load(path: "\(repositoryRoot)/config/porchlight.toml")
        var expected = Config()
        expected.button.line = .offset(17)
        #expect(shipped == expected)
    }

    @Test("a file holding only the button line gets every default")
    func minimalFileGetsDefaults() throws {
        let config = try ConfigLoader.parse("[button]\nline = \"GPIO17\"\n", file: "minimal.toml")
        #expect(config.button.line == .name("GPIO17"))
        #expect(config.button.debounce == .milliseconds(30))
        #expect(config.camera.preRoll == .seconds(6))
        #expect(config.privacy.bystanderAudio == false)
        #expect(config.sync.url == nil)
    }

    @Test("zones, masks and quick replies are read with their points and names")
    func polygonsAndRepliesAreRead() throws {
        let text = """
            [button]
            line = 17
            [chime]
            relay_line = 27
            relay_pulse_ms = 400
            [[motion.zones]]
            name = "Path"
            points = [[0, 360], [1280, 360], [1280, 720], [0, 720]]
            [[privacy.masks]]
            points = [[1000, 50], [1270, 50], [1270, 300]]
            [[audio.quick_replies]]
            name = "Leave it"
            file = "/etc/porchlight/leave.wav"
            [sync]
            url = "https://[fd00::1]:8443"
            """
        let config = try ConfigLoader.parse(text, file: "full.toml")
        #expect(
            config.chime.relay
                == ChimeRelay(chip: "auto", line: .offset(27), activeLow: false, pulse: .milliseconds(400)))
        #expect(
            config.motion.zones == [
                Polygon(
                    name: "Path",
                    points: [.init(x: 0, y: 360), .init(x: 1280, y: 360), .init(x: 1280, y: 720), .init(x: 0, y: 720)])
            ])
        #expect(config.privacy.masks.first?.points.count == 3)
        #expect(config.privacy.masks.first?.name == "privacy mask 0")
        #expect(config.audio.quickReplies == [QuickReply(name: "Leave it", file: "/etc/porchlight/leave.wav")])
        #expect(config.sync.url == "https://[fd00::1]:8443")
    }

    @Test("a simulated button needs no line, and quiet hours are read as daily spans")
    func simulatedButtonAndQuietHours() throws {
        let text =
            "[button]\nsource = \"simulated\"\nsimulate_every_s = 45\n[chime]\nquiet_hours = [\"22:00-07:00\", \"12:30-13:00\"]\n"
        let config = try ConfigLoader.parse(text, file: "demo.toml")
        #expect(config.button.line == nil)
        #expect(config.button.simulateEvery == .seconds(45))
        #expect(
            config.chime.quietHours == [
                QuietHours(startMinute: 22 * 60, endMinute: 7 * 60),
                QuietHours(startMinute: 12 * 60 + 30, endMinute: 13 * 60),
            ])
    }

    @Test("a reload names the sections whose changes wait for a restart; log and quiet hours apply at once")
    func restartSections() throws {
        let old = try ConfigLoader.parse("[button]\nline = 17\n", file: "a.toml")
        let new = try ConfigLoader.parse(
            "[button]\nline = 18\n[chime]\nquiet_hours = [\"22:00-07:00\"]\n[log]\nlevel = \"debug\"\n[motion]\nanalysis_fps = 3\n",
            file: "b.toml")
        #expect(Config.sectionsNeedingRestart(from: old, to: new) == ["button", "motion"])
        #expect(Config.sectionsNeedingRestart(from: old, to: old).isEmpty)
        let lit = try ConfigLoader.parse("[button]\nline = 17\n[ir]\nline = 22\n", file: "c.toml")
        let later = try ConfigLoader.parse(
            "[button]\nline = 17\n[ir]\nline = 22\non_hours = [\"17:00-08:00\"]\n", file: "d.toml")
        #expect(Config.sectionsNeedingRestart(from: lit, to: later).isEmpty)
        #expect(Config.sectionsNeedingRestart(from: old, to: lit) == ["ir"])
    }

    @Test("the IR LEDs: off unless a line is given, then on in their hours")
    func irSection() throws {
        let none = try ConfigLoader.parse("[button]\nline = 17\n", file: "a.toml")
        #expect(none.ir.line == nil)
        let wired = try ConfigLoader.parse(
            "[button]\nline = 17\n[ir]\nline = \"GPIO22\"\nchip = \"pinctrl-rp1\"\nactive_low = true\non_hours = [\"19:30-06:45\"]\n",
            file: "b.toml")
        #expect(wired.ir.line == .name("GPIO22"))
        #expect(wired.ir.chip == "pinctrl-rp1")
        #expect(wired.ir.activeLow)
        #expect(wired.ir.schedule == .hours([QuietHours(startMinute: 19 * 60 + 30, endMinute: 6 * 60 + 45)]))
        let dark = try ConfigLoader.parse(
            "[button]\nline = 17\n[ir]\nline = 22\nschedule = \"dark\"\non_hours = [\"18:00-07:00\"]\nlatitude = 52.52\nlongitude = 13\n",
            file: "c.toml")
        #expect(dark.ir.schedule == .dark(Darkness(latitude: 52.52, longitude: 13)))
    }

    @Test("a relative camera file is taken relative to the configuration file")
    func relativeFileResolves() throws {
        let text = "[button]\nline = 1\n[camera]\nsource = \"file\"\nfile = \"footage/porch.mjpeg\"\n"
        #expect(
            try ConfigLoader.parse(text, file: "/etc/porchlight/demo.toml").camera.file
                == "/etc/porchlight/footage/porch.mjpeg")
        #expect(try ConfigLoader.parse(text, file: "demo.toml").camera.file == "footage/porch.mjpeg")
        let absolute = "[button]\nline = 1\n[camera]\nsource = \"file\"\nfile = \"/srv/porch.mjpeg\"\n"
        #expect(try ConfigLoader.parse(absolute, file: "/etc/porchlight/demo.toml").camera.file == "/srv/porch.mjpeg")
    }

    @Test("a file that cannot be read is one error naming the file and the cause")
    func unreadableFile() throws {
        let directory = try TemporaryDirectory()
        let missing = "\(directory.path)/nope.toml"
        let error = #expect(throws: ConfigErrors.self) { try ConfigLoader.load(path: missing) }
        #expect(error?.errors.count == 1)
        #expect(error?.errors.first?.file == missing)
        #expect(error?.errors.first?.message.contains("No such file or directory") == true)
    }

    @Test("the check report says valid or lists the errors")
    func checkReport() throws {
        let directory = try TemporaryDirectory()
        let good = try directory.write("good.toml", "[button]\nline = 4\n")
        let bad = try directory.write("bad.toml", "[button]\nline = -4\n[camera]\nfps = 0\n")
        let valid = ConfigLoader.checkReport(path: good)
        #expect(valid.valid)
        #expect(valid.text.contains("configuration is valid"))
        let invalid = ConfigLoader.checkReport(path: bad)
        #expect(!invalid.valid)
        #expect(invalid.text.contains("bad.toml:2: button.line"))
        #expect(invalid.text.contains("bad.toml:4: camera.fps"))
        #expect(invalid.text.hasSuffix("2 configuration errors"))
    }
}

@Suite("The shipped sync module configuration", .timeLimit(.minutes(10)))
struct ShippedSyncConfigTests {
    @Test("config/sync.toml parses, and its values are the built-in defaults")
    func shippedSyncConfig() throws {
        #expect(try ConfigLoader.loadSyncModule(path: "\(repositoryRoot)/config/sync.toml") == SyncModuleConfig())
    }

    @Test("errors in a sync configuration are reported like the daemon's")
    func badSyncConfig() throws {
        let error = #expect(throws: ConfigErrors.self) {
            try ConfigLoader.parseSyncModule(
                "[server]\nport = 0\nhostname = \"x\"\n[storage]\nstate_directory = \"rel\"\n", file: "sync.toml")
        }
        #expect(error?.errors.map(\.keyPath) == ["server.port", "server.hostname", "storage.state_directory"])
        #expect(error?.errors[1].hint == "did you mean 'hostnames'?")
    }

    @Test("letters outside ASCII and escaped quotes in strings and comments are fine")
    func unicodeInStrings() throws {
        let text = [
            "# Tür, Straße, 門", "[server]",
            #"hostnames = ["tür.local", 'literal "ü"', "escaped \" quote ü"]"#, "[log] # ü",
            #"level = """info""""#,
        ].joined(separator: "\n")
        #expect(try ConfigLoader.parseSyncModule(text, file: "sync.toml").hostnames.first == "tür.local")
    }

    @Test("the metrics token is off unless set, and a short or spaced one is refused")
    func metricsToken() throws {
        #expect(try ConfigLoader.parseSyncModule("", file: "sync.toml").metricsToken == nil)
        let token = "0123456789abcdef0123"
        #expect(
            try ConfigLoader.parseSyncModule("[metrics]\ntoken = \"\(token)\"\n", file: "sync.toml").metricsToken
                == token)
        for bad in ["short", "has a space in the middle!", String(repeating: "x", count: 257)] {
            let error = #expect(throws: ConfigErrors.self) {
                try ConfigLoader.parseSyncModule("[metrics]\ntoken = \"\(bad)\"\n", file: "sync.toml")
            }
            #expect(error?.errors.map(\.keyPath) == ["metrics.token"])
        }
    }

    @Test("the push contact is a mailto: or https: URL; anything else names push.contact")
    func pushContact() throws {
        #expect(try ConfigLoader.parseSyncModule("", file: "sync.toml").pushContact.hasPrefix("mailto:"))
        #expect(
            try ConfigLoader.parseSyncModule("[push]\ncontact = \"https://example.org/me\"\n", file: "sync.toml")
                .pushContact == "https://example.org/me")
        for bad in [
            "me@example.org", "http://example.org", "mailto:a b@example.org", "",
            "mailto:" + String(repeating: "x", count: 300),
        ] {
            let error = #expect(throws: ConfigErrors.self) {
                try ConfigLoader.parseSyncModule("[push]\ncontact = \"\(bad)\"\n", file: "sync.toml")
            }
            #expect(error?.errors.map(\.keyPath) == ["push.contact"])
        }
    }
}

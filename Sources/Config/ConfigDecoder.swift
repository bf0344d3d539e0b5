// Over 400 lines on purpose: one function per config section, each naming its keys, ranges and
// errors, in the order of config/porchlight.toml. Splitting it by section would scatter
// the cross-section rules at the end.

import DoorbellCore
import TOMLKit

/// Turns the TOML tree into a ``Config``, section by section, then checks the rules that span
/// sections. Ranges here are the limits of what the daemon can do sensibly, not the defaults.
enum ConfigDecoder {
    static func decode(_ root: TableReader) -> Config {
        var config = Config()
        config.device = device(root.table("device"))
        config.button = button(root.table("button"))
        config.chime = chime(root.table("chime"))
        config.ir = ir(root.table("ir"))
        config.camera = camera(root.table("camera"))
        let frame = (width: config.camera.width, height: config.camera.height)
        config.motion = motion(root.table("motion"), frame: frame)
        config.privacy = privacy(root.table("privacy"), frame: frame)
        config.audio = audio(root.table("audio"))
        config.sync = sync(root.table("sync"))
        config.mqtt = mqtt(root.table("mqtt"), deviceName: config.device.name)
        config.storage = storage(root.table("storage"))
        config.log = log(root.table("log"))
        root.finish()
        crossCheck(config, root.diagnostics)
        return config
    }

    static func device(_ r: TableReader) -> DeviceConfig {
        defer { r.finish() }
        var c = DeviceConfig()
        c.name = r.string("name", default: c.name)
        if c.name.count > 64 { r.report("name", "expected at most 64 characters, found \(c.name.count)") }
        return c
    }

    static func button(_ r: TableReader) -> ButtonConfig {
        defer { r.finish() }
        var c = ButtonConfig()
        c.enabled = r.bool("enabled", default: c.enabled)
        c.source = r.choice("source", default: c.source)
        c.chip = r.string("chip", default: c.chip)
        c.line = gpioLine(r, "line", required: c.enabled && c.source == .gpio)
        c.activeLow = r.bool("active_low", default: c.activeLow)
        c.bias = r.choice("bias", default: c.bias)
        c.debounce = r.duration("debounce_ms", default: c.debounce, in: 1...500)
        c.longPress = r.duration("long_press_ms", default: c.longPress, in: 100...60_000)
        c.ringWindow = r.duration("ring_window_s", default: c.ringWindow, in: 0...600)
        let every = r.duration("simulate_every_s", default: .zero, in: 0...86_400)
        c.simulateEvery = every > .zero ? every : nil
        return c
    }

    static func chime(_ r: TableReader) -> ChimeConfig {
        defer { r.finish() }
        var c = ChimeConfig()
        let chip = r.string("relay_chip", default: "auto")
        let activeLow = r.bool("relay_active_low", default: false)
        let pulse = r.duration("relay_pulse_ms", default: .milliseconds(200), in: 10...5000)
        if let line = gpioLine(r, "relay_line", required: false) {
            c.relay = ChimeRelay(chip: chip, line: line, activeLow: activeLow, pulse: pulse)
        }
        if let sound = r.optionalString("sound") {
            switch sound {
            case "none": c.sound = .none
            case "builtin": c.sound = .builtin
            default:
                if sound.hasPrefix("/") && sound.lowercased().hasSuffix(".wav") {
                    c.sound = .file(sound)
                } else {
                    r.report(
                        "sound", "expected \"builtin\", \"none\" or an absolute path to a .wav file, found \"\(sound)\""
                    )
                }
            }
        }
        c.volume = r.int("volume", default: c.volume, in: 0...100, unit: "%")
        c.quietHours = quietHours(r, "quiet_hours")
        return c
    }

    static func ir(_ r: TableReader) -> IRConfig {
        defer { r.finish() }
        var c = IRConfig()
        c.chip = r.string("chip", default: c.chip)
        c.line = gpioLine(r, "line", required: false)
        c.activeLow = r.bool("active_low", default: c.activeLow)
        let kind = r.choice("schedule", default: IRScheduleKind.hours)
        let hours = r.raw("on_hours") != nil ? quietHours(r, "on_hours") : nil
        let latitude = r.raw("latitude") != nil ? r.double("latitude", default: 0, in: -90...90, unit: "°") : nil
        let longitude = r.raw("longitude") != nil ? r.double("longitude", default: 0, in: -180...180, unit: "°") : nil
        switch kind {
        case .hours:
            if let hours { c.schedule = .hours(hours) }
        case .dark:
            // on_hours stays allowed (and unused): the shipped file sets it, and switching to
            // "dark" should not mean deleting it.
            guard let latitude, let longitude else {
                r.report(
                    latitude == nil ? "latitude" : "longitude",
                    "missing required value: schedule = \"dark\" needs the doorbell's place",
                    hint: "latitude and longitude in degrees, north and east positive, e.g. 52.52 and 13.40")
                return c
            }
            c.schedule = .dark(Darkness(latitude: latitude, longitude: longitude))
        }
        return c
    }

    static func camera(_ r: TableReader) -> CameraConfig {
        defer { r.finish() }
        var c = CameraConfig()
        c.enabled = r.bool("enabled", default: c.enabled)
        c.source = r.choice("source", default: c.source)
        c.device = r.string("device", default: c.device)
        if !c.device.hasPrefix("/dev/") {
            r.report("device", "expected a device path under /dev/, found \"\(c.device)\"")
        }
        // Relative to the configuration file, so that a config and its footage can move together.
        c.file = r.optionalString("file").map { r.diagnostics.resolve($0) }
        c.loop = r.bool("loop", default: c.loop)
        c.realtime = r.bool("realtime", default: c.realtime)
        c.format = r.choice("format", default: c.format)
        c.width = r.int("width", default: c.width, in: 32...4096, unit: "pixels")
        c.height = r.int("height", default: c.height, in: 32...4096, unit: "pixels")
        c.fps = r.int("fps", default: c.fps, in: 1...120, unit: "frames per second")
        c.buffers = r.int("buffers", default: c.buffers, in: 4...32)
        c.preRoll = r.duration("preroll_s", default: c.preRoll, in: 0...30)
        c.preRollMaxBytes = r.int("preroll_max_mb", default: c.preRollMaxBytes >> 20, in: 1...1024, unit: "MiB") << 20
        c.postRoll = r.duration("postroll_s", default: c.postRoll, in: 0...300)
        c.clipMax = r.duration("clip_max_s", default: c.clipMax, in: 5...3600)
        c.snapshotQuality = r.int("snapshot_quality", default: c.snapshotQuality, in: 1...100)
        if c.source == .file && c.file == nil && c.enabled {
            r.report(
                "file", "missing required value: source = \"file\" needs a file to play",
                hint: "set file = \"/path/to/footage.mjpeg\", or source = \"v4l2\"")
        }
        return c
    }

    static func motion(_ r: TableReader, frame: (width: Int, height: Int)) -> MotionConfig {
        defer { r.finish() }
        var c = MotionConfig()
        c.enabled = r.bool("enabled", default: c.enabled)
        c.analysisFPS = r.int("analysis_fps", default: c.analysisFPS, in: 1...30, unit: "frames per second")
        c.planeHeight = r.int("plane_height", default: c.planeHeight, in: 60...480, unit: "rows")
        c.thresholdSigma = r.double("threshold_sigma", default: c.thresholdSigma, in: 1...20)
        c.minAreaPercent = r.double("min_area_percent", default: c.minAreaPercent, in: 0.01...50, unit: "%")
        c.startAfter = r.duration("start_after_s", default: c.startAfter, in: 0...10)
        c.quietAfter = r.duration("quiet_after_s", default: c.quietAfter, in: 0...600)
        c.lightingChangePercent = r.double(
            "lighting_change_percent", default: c.lightingChangePercent, in: 5...100, unit: "%")
        c.zones = r.tables("zones") { zone in
            // Each zone may have its own sensitivity: a door mat needs less than a driveway.
            let minimum =
                zone.contains("min_area_percent")
                ? zone.double("min_area_percent", default: c.minAreaPercent, in: 0.01...50, unit: "%") : nil
            var polygon = polygon(zone, frame: frame, kind: "zone")
            polygon?.minAreaPercent = minimum
            return polygon
        }
        c.masks = r.tables("masks") { polygon($0, frame: frame, kind: "mask") }
        return c
    }

    static func privacy(_ r: TableReader, frame: (width: Int, height: Int)) -> PrivacyConfig {
        defer { r.finish() }
        var c = PrivacyConfig()
        c.masks = r.tables("masks") { polygon($0, frame: frame, kind: "privacy mask") }
        c.bystanderAudio = r.bool("bystander_audio", default: c.bystanderAudio)
        c.retentionDays = r.int("retention_days", default: c.retentionDays, in: 1...180, unit: "days")
        return c
    }

    static func audio(_ r: TableReader) -> AudioConfig {
        defer { r.finish() }
        var c = AudioConfig()
        c.enabled = r.bool("enabled", default: c.enabled)
        c.playbackDevice = r.string("playback_device", default: c.playbackDevice)
        c.captureDevice = r.string("capture_device", default: c.captureDevice)
        c.periodMilliseconds = r.int("period_ms", default: c.periodMilliseconds, in: 5...100, unit: "ms")
        c.bufferMilliseconds = r.int("buffer_ms", default: c.bufferMilliseconds, in: 10...1000, unit: "ms")
        c.echoTailMilliseconds = r.int("echo_tail_ms", default: c.echoTailMilliseconds, in: 32...1000, unit: "ms")
        c.noiseSuppressionDB = r.int("noise_suppression_db", default: c.noiseSuppressionDB, in: -60...0, unit: "dB")
        c.jitterMaxMilliseconds = r.int("jitter_max_ms", default: c.jitterMaxMilliseconds, in: 40...2000, unit: "ms")
        c.halfDuplex = r.bool("half_duplex", default: c.halfDuplex)
        c.talkMax = .seconds(r.int("talk_max_s", default: 300, in: 10...3600, unit: "s"))
        c.quickReplies = r.tables("quick_replies") { q in
            let name = q.optionalString("name")
            let file = q.optionalString("file")
            if name == nil && !q.contains("name") {
                q.report("name", "missing required value: expected the name the owner picks it by")
            }
            if file == nil && !q.contains("file") {
                q.report("file", "missing required value: expected an absolute path to a .wav file")
            }
            if let file, !(file.hasPrefix("/") && file.lowercased().hasSuffix(".wav")) {
                q.report("file", "expected an absolute path to a .wav file, found \"\(file)\"")
            }
            guard let name, let file else { return nil }
            return QuickReply(name: name, file: file)
        }
        var seen = Set<String>()
        for (index, reply) in c.quickReplies.enumerated() where !seen.insert(reply.name).inserted {
            r.report("quick_replies[\(index)].name", "duplicate quick reply name \"\(reply.name)\"")
        }
        if c.bufferMilliseconds < 2 * c.periodMilliseconds {
            r.report(
                "buffer_ms",
                "expected at least two periods (\(2 * c.periodMilliseconds) ms), found \(c.bufferMilliseconds)")
        }
        return c
    }

    static func sync(_ r: TableReader) -> SyncConfig {
        defer { r.finish() }
        var c = SyncConfig()
        if let url = r.optionalString("url") {
            if let problem = httpsURLProblem(url) {
                r.report("url", "expected https://host:port, found \"\(url)\" (\(problem))")
            } else {
                c.url = url
            }
        }
        c.connectTimeout = r.duration("connect_timeout_s", default: c.connectTimeout, in: 1...120)
        (c.retryInitial, c.retryMax) = retry(r, initial: c.retryInitial, max: c.retryMax)
        c.liveViewMax = r.duration("live_view_max_s", default: c.liveViewMax, in: 10...3600)
        return c
    }

    static func mqtt(_ r: TableReader, deviceName: String) -> MQTTConfig {
        defer { r.finish() }
        var c = MQTTConfig()
        c.enabled = r.bool("enabled", default: c.enabled)
        c.host = r.string("host", default: c.host)
        // One colon is a port written into the host; an IPv6 address has more.
        if c.host.contains(where: { $0 == " " || $0 == "/" }) || c.host.filter({ $0 == ":" }).count == 1 {
            r.report("host", "expected a host name or address, found \"\(c.host)\"", hint: "the port is mqtt.port")
        }
        if r.contains("port") { c.port = r.int("port", default: 1883, in: 1...65_535) }
        c.protocolVersion = r.choice("protocol", default: c.protocolVersion)
        c.username = r.optionalString("username")
        c.password = r.optionalString("password")
        c.passwordFile = r.optionalString("password_file")
        if c.password != nil && c.passwordFile != nil {
            r.report("password_file", "expected password or password_file, not both")
        }
        if (c.password != nil || c.passwordFile != nil) && c.username == nil {
            r.report("username", "missing: a password needs a username")
        }
        c.tls = r.bool("tls", default: c.tls)
        c.caFile = r.optionalString("ca_file")
        c.pinnedCertificate = r.optionalString("pinned_certificate")
        if c.caFile != nil && c.pinnedCertificate != nil {
            r.report("pinned_certificate", "expected ca_file or pinned_certificate, not both")
        }
        if (c.caFile != nil || c.pinnedCertificate != nil) && !c.tls {
            r.report("tls", "expected tls = true with ca_file or pinned_certificate")
        }
        for (key, path) in [
            ("password_file", c.passwordFile), ("ca_file", c.caFile), ("pinned_certificate", c.pinnedCertificate),
        ]
        where path.map({ !$0.hasPrefix("/") }) ?? false {
            r.report(key, "expected an absolute path, found \"\(path ?? "")\"")
        }
        // A name with no ASCII letter or digit ("玄関") gives "doorbell".
        let made = slug(deviceName)
        c.deviceID = r.string("device_id", default: made.isEmpty ? "doorbell" : made)
        if !isTopicWord(c.deviceID, max: 32) {
            r.report("device_id", "expected 1 to 32 of a-z, 0-9, _ and -, found \"\(c.deviceID)\"")
        }
        c.clientID = r.optionalString("client_id")
        if let id = c.clientID, id.utf8.count > 23 && c.protocolVersion == .v311 || id.contains(where: { !$0.isASCII })
        {
            r.report("client_id", "expected at most 23 ASCII characters (MQTT 3.1.1), found \"\(id)\"")
        }
        c.topicPrefix = r.string("topic_prefix", default: c.topicPrefix)
        c.discovery = r.bool("discovery", default: c.discovery)
        c.discoveryPrefix = r.string("discovery_prefix", default: c.discoveryPrefix)
        for (key, prefix) in [("topic_prefix", c.topicPrefix), ("discovery_prefix", c.discoveryPrefix)]
        where !isTopicPrefix(prefix) {
            r.report(
                key, "expected a topic without + or #, and without a leading or trailing /, found \"\(prefix)\"")
        }
        c.keepalive = r.duration("keepalive_s", default: c.keepalive, in: 5...3600)
        c.maxEventAge = r.duration("max_event_age_s", default: c.maxEventAge, in: 1...3600)
        c.acceptCommands = r.bool("accept_commands", default: c.acceptCommands)
        c.snapshots = r.bool("snapshots", default: c.snapshots)
        c.pressEvent = r.choice("press_event", default: c.pressEvent)
        (c.retryInitial, c.retryMax) = retry(r, initial: c.retryInitial, max: c.retryMax)
        return c
    }

    /// A backoff's `retry_initial_s` (0.1–60) and `retry_max_s` (1–3600, at least the first).
    static func retry(_ r: TableReader, initial: Duration, max: Duration) -> (Duration, Duration) {
        let first = r.duration("retry_initial_s", default: initial, in: 0.1...60)
        let last = r.duration("retry_max_s", default: max, in: 1...3600)
        if last < first {
            r.report("retry_max_s", "expected at least retry_initial_s (\(first.seconds)), found \(last.seconds)")
        }
        return (first, last)
    }

    /// "Front door" → "front_door": lowercase letters and digits, runs of anything else one `_`.
    static func slug(_ name: String) -> String {
        var out = ""
        for character in name.lowercased() {
            if character.isASCII && (character.isLetter || character.isNumber) {
                out.append(character)
            } else if !out.isEmpty && out.last != "_" {
                out.append("_")
            }
        }
        while out.last == "_" { out.removeLast() }
        return String(out.prefix(32))
    }

    static func isTopicWord(_ word: String, max: Int) -> Bool {
        !word.isEmpty && word.count <= max
            && word.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_" || $0 == "-") }
    }

    static func isTopicPrefix(_ prefix: String) -> Bool {
        !prefix.isEmpty && prefix.utf8.count <= 64 && !prefix.hasPrefix("/") && !prefix.hasSuffix("/")
            && !prefix.contains("//") && prefix.allSatisfy { $0.isASCII && !$0.isWhitespace && $0 != "+" && $0 != "#" }
    }

    static func storage(_ r: TableReader) -> StorageConfig {
        defer { r.finish() }
        var c = StorageConfig()
        c.stateDirectory = r.string("state_directory", default: c.stateDirectory)
        c.runtimeDirectory = r.string("runtime_directory", default: c.runtimeDirectory)
        for (key, path) in [("state_directory", c.stateDirectory), ("runtime_directory", c.runtimeDirectory)]
        where !path.hasPrefix("/") {
            r.report(key, "expected an absolute path, found \"\(path)\"")
        }
        c.outboxMaxBytes =
            r.int("outbox_max_mb", default: c.outboxMaxBytes >> 20, in: 16...1_048_576, unit: "MiB") << 20
        c.minFreeBytes = r.int("min_free_mb", default: c.minFreeBytes >> 20, in: 0...65_536, unit: "MiB") << 20
        return c
    }

    static func log(_ r: TableReader) -> LogConfig {
        defer { r.finish() }
        var c = LogConfig()
        c.level = r.choice("level", default: c.level)
        c.target = r.choice("target", default: c.target)
        c.faultInterval = r.duration("fault_interval_s", default: c.faultInterval, in: 1...3600)
        return c
    }

    // MARK: Shared shapes

    /// `["22:00-07:00", "12:30-13:30"]`: daily spans of local time, which may wrap past midnight.
    static func quietHours(_ r: TableReader, _ key: String) -> [QuietHours] {
        guard let found = r.raw(key) else { return [] }
        guard let array = found.array else {
            r.report(key, "expected a list of spans such as [\"22:00-07:00\"], found \(TableReader.describe(found))")
            return []
        }
        var spans: [QuietHours] = []
        for (index, element) in array.enumerated() {
            let path = "\(r.keyPath(key))[\(index)]"
            guard let text = element.string, let span = parseSpan(text) else {
                r.diagnostics.report(
                    path,
                    "expected a span \"HH:MM-HH:MM\" with different start and end, found \(TableReader.describe(element))"
                )
                continue
            }
            spans.append(span)
        }
        return spans
    }

    static func parseSpan(_ text: String) -> QuietHours? {
        let ends = text.split(separator: "-", omittingEmptySubsequences: false)
        guard ends.count == 2, let start = minuteOfDay(ends[0]), let end = minuteOfDay(ends[1]), start != end else {
            return nil
        }
        return QuietHours(startMinute: start, endMinute: end)
    }

    static func minuteOfDay(_ text: Substring) -> Int? {
        let parts = text.trimmingWhitespace().split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1].count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]),
            (0...23).contains(hour), (0...59).contains(minute)
        else { return nil }
        return hour * 60 + minute
    }

    static func gpioLine(_ r: TableReader, _ key: String, required: Bool) -> GPIOLine? {
        guard let found = r.raw(key) else {
            if required {
                r.report(
                    key, "missing required value: expected the button's GPIO line, an offset or a line name",
                    hint: "for BCM pin 17 write \(key) = 17, or \(key) = \"GPIO17\"; or set enabled = false")
            }
            return nil
        }
        if let offset = found.int {
            guard (0...1023).contains(offset) else {
                r.report(key, "expected a line offset from 0 to 1023, found \(offset)")
                return nil
            }
            return .offset(offset)
        }
        if let name = found.string, !name.isEmpty { return .name(name) }
        r.report(key, "expected a line offset (17) or a line name (\"GPIO17\"), found \(TableReader.describe(found))")
        return nil
    }

    static func polygon(_ r: TableReader, frame: (width: Int, height: Int), kind: String) -> Polygon? {
        let name = r.string("name", default: "\(kind) \(r.path.split(separator: "[").last?.dropLast() ?? "")")
        guard let found = r.raw("points") else {
            r.report("points", "missing required value: expected at least 3 points [[x, y], ...]")
            return nil
        }
        guard let array = found.array else {
            r.report("points", "expected an array of points [[x, y], ...], found \(TableReader.describe(found))")
            return nil
        }
        var points: [Point] = []
        var valid = true
        for (index, element) in array.enumerated() {
            let path = "\(r.keyPath("points"))[\(index)]"
            guard let pair = element.array, pair.count == 2, let x = pair[0].int, let y = pair[1].int else {
                r.diagnostics.report(
                    path, "expected a point [x, y] of two integers, found \(TableReader.describe(element))")
                valid = false
                continue
            }
            guard (0...frame.width).contains(x), (0...frame.height).contains(y) else {
                r.diagnostics.report(
                    path, "expected a point inside the \(frame.width)×\(frame.height) frame, found [\(x), \(y)]",
                    hint: "points are camera pixels: x from 0 to camera.width, y from 0 to camera.height")
                valid = false
                continue
            }
            points.append(Point(x: x, y: y))
        }
        guard valid else { return nil }
        guard points.count >= 3 else {
            r.report("points", "expected at least 3 points for a \(kind), found \(points.count)")
            return nil
        }
        if area(points) == 0 {
            r.report("points", "expected a polygon with an area, found points that lie on one line")
            return nil
        }
        return Polygon(name: name, points: points)
    }

    /// Twice the signed area, by the shoelace formula; zero for degenerate polygons.
    static func area(_ points: [Point]) -> Int {
        var sum = 0
        for (a, b) in zip(points, points.dropFirst() + [points[0]]) { sum += a.x * b.y - b.x * a.y }
        return abs(sum)
    }

    static func httpsURLProblem(_ url: String) -> String? {
        guard url.hasPrefix("https://") else { return "the sync module is only reached over HTTPS" }
        var rest = url.dropFirst("https://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@") else { return "expected only a host and a port" }
        // The port follows the last colon, unless the colon is inside a bracketed IPv6 address.
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("]") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
                return "the port must be a number from 1 to 65535"
            }
            if rest[..<colon].isEmpty { return "the host is missing" }
        }
        return nil
    }

    // MARK: Rules across keys

    static func crossCheck(_ c: Config, _ d: Diagnostics) {
        if c.button.enabled && c.button.longPress <= c.button.debounce {
            d.report(
                "button.long_press_ms",
                "expected more than debounce_ms (\(Int(c.button.debounce.milliseconds))), found \(Int(c.button.longPress.milliseconds))"
            )
        }
        // Each GPIO line has one user: a later one in this list that names an earlier one's line is
        // the error (the daemon could not request the line twice).
        struct LineUser {
            var key: String, chip: String, line: GPIOLine, name: String, owner: String, wiring: String
        }
        var users: [LineUser] = []
        if c.button.enabled, let line = c.button.line {
            users.append(
                .init(
                    key: "button.line", chip: c.button.chip, line: line, name: "the button", owner: "the button's",
                    wiring: ""))
        }
        if let relay = c.chime.relay {
            users.append(
                .init(
                    key: "chime.relay_line", chip: relay.chip, line: relay.line, name: "the relay",
                    owner: "the chime relay's", wiring: "the relay"))
        }
        if let line = c.ir.line {
            users.append(
                .init(
                    key: "ir.line", chip: c.ir.chip, line: line, name: "the IR LEDs", owner: "the IR LEDs'",
                    wiring: "the IR transistor"))
        }
        for (index, user) in users.enumerated() {
            if let taken = users[..<index].first(where: { $0.chip == user.chip && $0.line == user.line }) {
                d.report(
                    user.key, "\(user.name) cannot use \(taken.owner) line \(user.line) on \(user.chip)",
                    hint: "wire \(user.wiring) to a free GPIO line")
            }
        }
        if c.motion.enabled && c.camera.enabled && c.motion.analysisFPS > c.camera.fps {
            d.report(
                "motion.analysis_fps",
                "expected at most camera.fps (\(c.camera.fps)), found \(c.motion.analysisFPS)",
                hint: "analysis cannot run faster than frames arrive")
        }
    }
}

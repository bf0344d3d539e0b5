import DoorbellCore
import Logging

/// The daemon's whole configuration, validated. Every field has been range-checked and
/// cross-checked by ``ConfigLoader``; code that receives a `Config` can trust it.
public struct Config: Sendable, Equatable {
    public var device = DeviceConfig()
    public var button = ButtonConfig()
    public var chime = ChimeConfig()
    public var ir = IRConfig()
    public var camera = CameraConfig()
    public var motion = MotionConfig()
    public var privacy = PrivacyConfig()
    public var audio = AudioConfig()
    public var sync = SyncConfig()
    public var mqtt = MQTTConfig()
    public var storage = StorageConfig()
    public var log = LogConfig()

    public init() {}
}

extension Config {
    /// What a reload applies at once: the log level and target, the chime's quiet hours and the
    /// IR illuminator's hours.
    /// Everything else is wired into running pipelines and applies at the next restart; this
    /// names the sections whose changes wait.
    public static func sectionsNeedingRestart(from old: Config, to new: Config) -> [String] {
        var oldChime = old.chime
        oldChime.quietHours = new.chime.quietHours
        var oldIR = old.ir
        oldIR.schedule = new.ir.schedule
        let sections: [(String, Bool)] = [
            ("device", old.device != new.device), ("button", old.button != new.button),
            ("chime", oldChime != new.chime), ("ir", oldIR != new.ir), ("camera", old.camera != new.camera),
            ("motion", old.motion != new.motion), ("privacy", old.privacy != new.privacy),
            ("audio", old.audio != new.audio), ("sync", old.sync != new.sync), ("mqtt", old.mqtt != new.mqtt),
            ("storage", old.storage != new.storage),
        ]
        return sections.filter(\.1).map(\.0)
    }
}

/// A point in camera-frame pixels: x to the right, y down, (0, 0) the top-left corner.
public struct Point: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public init(x: Int, y: Int) {
        self.x = x
        self.y = y
    }
    public var description: String { "[\(x), \(y)]" }
}

/// A named polygon in camera-frame pixels, used for motion zones, detection masks and privacy masks.
public struct Polygon: Sendable, Equatable {
    public var name: String
    public var points: [Point]
    /// For motion zones: this zone's own minimum changed area, in percent of the zone; nil uses
    /// `motion.min_area_percent`.
    public var minAreaPercent: Double?

    public init(name: String, points: [Point], minAreaPercent: Double? = nil) {
        self.name = name
        self.points = points
        self.minAreaPercent = minAreaPercent
    }
}

public struct DeviceConfig: Sendable, Equatable {
    /// Shown in the owner's timeline; several doorbells can share one sync module.
    public var name = "Front door"
}

public enum ButtonSourceKind: String, Sendable, CaseIterable {
    /// A real button on a GPIO line.
    case gpio
    /// No wire: presses come from `porchlightctl ring` and the demo's simulated visitor.
    case simulated
}

public struct ButtonConfig: Sendable, Equatable {
    public var enabled = true
    public var source = ButtonSourceKind.gpio
    /// A chip path (`/dev/gpiochip0`), name (`gpiochip0`), number (`0`) or label (`pinctrl-rp1`), or
    /// `auto`: the Raspberry Pi header's chip, found by its label (hardware/README.md).
    public var chip = "auto"
    /// Only the site knows the wiring, so there is no default; `nil` only when the button is disabled.
    public var line: GPIOLine?
    public var activeLow = true
    public var bias = GPIOBias.pullUp
    public var debounce = Duration.milliseconds(30)
    public var longPress = Duration.milliseconds(2000)
    public var ringWindow = Duration.seconds(10)
    /// For demos: a simulated visitor presses every this often; `nil` never.
    public var simulateEvery: Duration?
}

public enum ChimeSound: Sendable, Equatable {
    case none
    case builtin
    case file(String)
}

/// A relay or solid-state relay that drives a mechanical chime.
public struct ChimeRelay: Sendable, Equatable {
    public var chip = "auto"
    public var line: GPIOLine
    public var activeLow = false
    public var pulse = Duration.milliseconds(200)

    public init(chip: String, line: GPIOLine, activeLow: Bool, pulse: Duration) {
        self.chip = chip
        self.line = line
        self.activeLow = activeLow
        self.pulse = pulse
    }
}

public struct ChimeConfig: Sendable, Equatable {
    /// `nil` when no relay is wired.
    public var relay: ChimeRelay?
    public var sound = ChimeSound.builtin
    /// Percent of full scale.
    public var volume = 80
    /// Do not disturb: the chime stays silent in these daily spans; rings are still recorded.
    public var quietHours: [QuietHours] = []
}

/// IR LEDs for night vision, switched through a transistor on a GPIO line (hardware/wiring.md).
public struct IRConfig: Sendable, Equatable {
    public var chip = "auto"
    /// `nil` when no IR LEDs are wired to a GPIO line.
    public var line: GPIOLine?
    public var activeLow = false
    /// When the LEDs are on: `on_hours`, or from civil dusk to dawn at the doorbell's place.
    public var schedule = IRSchedule.hours([QuietHours(startMinute: 18 * 60, endMinute: 7 * 60)])

    public init() {}
}

/// How `[ir] schedule` names the IR LEDs' schedule.
public enum IRScheduleKind: String, Sendable, CaseIterable {
    case hours
    case dark
}

public enum CameraSource: String, Sendable, CaseIterable {
    case v4l2
    case file
}

public struct CameraConfig: Sendable, Equatable {
    public var enabled = true
    public var source = CameraSource.v4l2
    /// A device path such as `/dev/video0` or `/dev/v4l/by-id/...`.
    public var device = "/dev/video0"
    /// An MJPEG file (concatenated JPEGs); required when `source` is `file`.
    public var file: String?
    /// For the file camera: start again at the end, and play at the nominal rate.
    public var loop = true
    public var realtime = true
    public var format = PixelFormatPreference.auto
    public var width = 1280
    public var height = 720
    public var fps = 15
    public var buffers = 4
    public var preRoll = Duration.seconds(6)
    public var preRollMaxBytes = 24 << 20
    public var postRoll = Duration.seconds(10)
    public var clipMax = Duration.seconds(60)
    public var snapshotQuality = 85
}

public struct MotionConfig: Sendable, Equatable {
    public var enabled = true
    /// Frames analysed per second, independent of the capture rate.
    public var analysisFPS = 5
    /// Rows of the grey analysis plane; its width follows the camera's aspect ratio.
    public var planeHeight = 120
    /// A pixel differs from the background when it is this many times its own average deviation
    /// away (so flickering leaves need more change than a still wall).
    public var thresholdSigma = 3.0
    /// The changed share of a zone (or of the frame) that counts as motion, in percent.
    public var minAreaPercent = 0.3
    /// Motion must persist this long before an event starts.
    public var startAfter = Duration.milliseconds(400)
    /// An event ends after this long without motion.
    public var quietAfter = Duration.seconds(5)
    /// A change covering more than this share of the frame at once is checked for a lighting or
    /// IR switch, and compensated if most of the frame changed by one common factor.
    public var lightingChangePercent = 25.0
    /// Where motion counts; none means the whole frame.
    public var zones: [Polygon] = []
    /// Where motion is ignored (a road, a tree); still recorded, unlike privacy masks.
    public var masks: [Polygon] = []
}

public struct PrivacyConfig: Sendable, Equatable {
    /// Blacked out at ingest, before any other code sees the frame.
    public var masks: [Polygon] = []
    /// Record audio in clips even when nobody is talking to the owner. Off: passers-by are not recorded.
    public var bystanderAudio = false
    /// Snapshots and clips the sync module never took are deleted after this many days.
    public var retentionDays = 30
}

public struct QuickReply: Sendable, Equatable {
    public var name: String
    public var file: String

    public init(name: String, file: String) {
        self.name = name
        self.file = file
    }
}

public struct AudioConfig: Sendable, Equatable {
    public var enabled = true
    public var playbackDevice = "default"
    public var captureDevice = "default"
    /// What to ask ALSA for; the granted values are logged.
    public var periodMilliseconds = 20
    public var bufferMilliseconds = 80
    public var echoTailMilliseconds = 200
    public var noiseSuppressionDB = -25
    public var jitterMaxMilliseconds = 200
    /// For hardware where echo cancellation cannot converge: the microphone is muted while the
    /// owner's voice plays.
    public var halfDuplex = false
    /// A talk session ends after this long.
    public var talkMax = Duration.seconds(300)
    public var quickReplies: [QuickReply] = []
}

public struct SyncConfig: Sendable, Equatable {
    /// Reserved for overriding the sync module's address; pairing records it in the state
    /// directory (`pairing.json`), and that is what the uplink uses today.
    public var url: String?
    public var connectTimeout = Duration.seconds(10)
    public var retryInitial = Duration.seconds(1)
    public var retryMax = Duration.seconds(300)
    public var liveViewMax = Duration.seconds(120)
}

/// The broker that Home Assistant (or Node-RED, or a script) listens on (docs/mqtt.md). Off by
/// default: nothing leaves the doorbell for it until the owner names one.
public struct MQTTConfig: Sendable, Equatable {
    public enum ProtocolVersion: String, Sendable, CaseIterable {
        case v311 = "3.1.1"
        case v5 = "5"
    }

    /// The `event_type` a press fires on Home Assistant's doorbell event entity. Both are
    /// offered in `event_types`: `ring` is what Home Assistant's doorbell triggers listen for
    /// (required of doorbell event entities from 2027.4).
    public enum PressEvent: String, Sendable, CaseIterable {
        case press, ring
    }

    public var enabled = false
    public var host = "localhost"
    /// 1883, or 8883 with TLS, unless set.
    public var port: Int?
    public var protocolVersion = ProtocolVersion.v311
    public var username: String?
    /// Read at start from `password_file` (a file of its own, 0600) or given inline.
    public var password: String?
    public var passwordFile: String?
    /// TLS: against the system's CAs, or `caFile`, or exactly the `pinnedCertificate`.
    public var tls = false
    public var caFile: String?
    public var pinnedCertificate: String?
    /// The device's name in topics and entity ids: `porchlight/<deviceID>/...`.
    public var deviceID = "front_door"
    public var clientID: String?
    public var topicPrefix = "porchlight"
    public var discovery = true
    public var discoveryPrefix = "homeassistant"
    public var keepalive = Duration.seconds(30)
    /// Events older than this when the broker can take them are dropped, not published late.
    public var maxEventAge = Duration.seconds(30)
    /// Do not disturb and chime mute from the broker; off, a command is refused and logged.
    public var acceptCommands = false
    /// Each ring's and motion event's masked snapshot to the broker, in the clear.
    public var snapshots = false
    public var pressEvent = PressEvent.press
    public var retryInitial = Duration.seconds(1)
    public var retryMax = Duration.seconds(60)

    public init() {}

    public var resolvedPort: Int { port ?? (tls ? 8883 : 1883) }
    public var resolvedClientID: String { clientID ?? "porchlight-\(deviceID)" }
}

public struct StorageConfig: Sendable, Equatable {
    public var stateDirectory = "/var/lib/porchlight"
    /// Run-time files: the control socket. systemd's RuntimeDirectory= creates it, owner-only.
    public var runtimeDirectory = "/run/porchlight"
    public var outboxMaxBytes = 512 << 20
    /// Stop writing new media when free space drops below this; events still go through.
    public var minFreeBytes = 64 << 20
}

public enum LogLevel: String, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    public var swiftLogLevel: Logger.Level {
        switch self {
        case .trace: .trace
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }
}

public enum LogTarget: String, Sendable, CaseIterable {
    case auto
    case journal
    case console
}

public struct LogConfig: Sendable, Equatable {
    public var level = LogLevel.info
    public var target = LogTarget.auto
    /// A repeating fault is logged at most once per this interval.
    public var faultInterval = Duration.seconds(60)
}

// swift-tools-version:6.0
import PackageDescription

/// A system-library target found through pkg-config, with a hint for the Debian package.
func systemLibrary(_ name: String, pkgConfig: String, debian: String) -> Target {
    .systemLibrary(name: name, pkgConfig: pkgConfig, providers: [.apt([debian])])
}

let log = Target.Dependency.product(name: "Logging", package: "swift-log")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let unixSignals = Target.Dependency.product(name: "UnixSignals", package: "swift-service-lifecycle")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let systemPackage = Target.Dependency.product(name: "SystemPackage", package: "swift-system")
// The packaged executables are linked by the toolchain's own lld with full RELRO, the same on
// every release: bookworm's gold gives RELRO by default, but trixie has no gold, and its ld.bfd
// leaves these binaries without it (lintian's hardening-no-relro) even when asked.
let hardenedLinking: [LinkerSetting] = [
    .unsafeFlags(
        ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "relro", "-Xlinker", "-z", "-Xlinker", "now"],
        .when(platforms: [.linux]))
]

let package = Package(
    name: "porchlight",
    products: [
        .executable(name: "porchlightd", targets: ["porchlightd"]),
        .executable(name: "porchlightctl", targets: ["porchlightctl"]),
        .executable(name: "porchlight-sync", targets: ["porchlight-sync"]),
        .executable(name: "porchlight-demo", targets: ["porchlight-demo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.26.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.60.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.20.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.2.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.0.0"),
    ],
    targets: [
        // C libraries. Each module map names the library; shim.h only holds inline shims for macros.
        systemLibrary("CGPIOD", pkgConfig: "libgpiod", debian: "libgpiod-dev"),
        systemLibrary("CV4L2", pkgConfig: "libv4l2", debian: "libv4l-dev"),
        systemLibrary("CTurboJPEG", pkgConfig: "libturbojpeg", debian: "libturbojpeg0-dev"),
        systemLibrary("CALSA", pkgConfig: "alsa", debian: "libasound2-dev"),
        systemLibrary("CSpeexDSP", pkgConfig: "speexdsp", debian: "libspeexdsp-dev"),
        systemLibrary("CMosquitto", pkgConfig: "libmosquitto", debian: "libmosquitto-dev"),

        // The domain: types, boundary protocols, health. No C, no I/O.
        .target(name: "DoorbellCore", dependencies: [log, lifecycle]),
        // Motion detection: pure computation on grey planes, SIMD16<UInt8>.
        .target(name: "Motion"),
        // The camera pipeline: masks, motion analysis, pre-roll, snapshots and clips, the media store.
        .target(
            name: "Media",
            dependencies: ["JPEG", "Motion", "Config", "DoorbellCore", "Privacy", systemPackage, log, lifecycle]),
        // The libturbojpeg adapter: decoding, encoding, and privacy masks in the DCT domain.
        .target(name: "JPEG", dependencies: ["CTurboJPEG", "Motion"]),
        // TOML to a validated, typed configuration.
        .target(name: "Config", dependencies: ["DoorbellCore", log, .product(name: "TOMLKit", package: "TOMLKit")]),
        // The GPIO adapter: the only code that calls libgpiod.
        .target(name: "LinuxGPIO", dependencies: ["CGPIOD", "DoorbellCore"]),
        // The ALSA adapter: the only code that calls libasound.
        .target(name: "LinuxAudio", dependencies: ["CALSA", "DoorbellCore", log, lifecycle]),
        // Audio at the door: door sounds, talk sessions, the jitter buffer and the echo canceller
        // (speexdsp). No ALSA: the device thread in LinuxAudio drives it.
        .target(name: "Audio", dependencies: ["CSpeexDSP", "DoorbellCore", "Config", log]),
        // Privacy by construction: media sealed for the owner's keys (HPKE, AES-GCM).
        .target(name: "Privacy", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // The V4L2 adapter: the only code that calls libv4l2.
        .target(name: "LinuxCamera", dependencies: ["CV4L2", "DoorbellCore", log]),
        // Wire types shared by the daemon and the sync module (docs/protocol.md).
        .target(
            name: "SyncProtocol", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // The daemon's side of sync: the durable outbox, pairing and the uplink.
        .target(
            name: "Uplink",
            dependencies: [
                "DoorbellCore", "SyncProtocol", "Privacy", .product(name: "GRDB", package: "GRDB.swift"), log,
                lifecycle,
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]),
        // The sync module's storage: SQLite (GRDB) for events, keys, sessions, shares and the
        // access log; the media folder and its retention. No HTTP.
        .target(
            name: "SyncStorage",
            dependencies: [
                "SyncProtocol", "Privacy", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"), systemPackage, log,
            ]),
        // Web Push as the standards have it: message encryption (RFC 8291, aes128gcm), the VAPID
        // key and token (RFC 8292), and the request to a push service (RFC 8030). No storage.
        .target(
            name: "WebPush",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        // The sync module's server: the HTTPS API and the doorbells' control channels, over the
        // stores it is given.
        .target(
            name: "SyncModule",
            dependencies: [
                "SyncStorage", "SyncProtocol", "Privacy", "WebPush", lifecycle,
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "NIOCore", package: "swift-nio"),
                log,
            ]),
        // The owner's web page, served by the sync module.
        .target(
            name: "WebUI",
            dependencies: [
                "SyncModule", "SyncStorage", "SyncProtocol", "Privacy", "WebPush", log, lifecycle,
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            // The page's script, style sheet and templates, compiled into the binary: the hardened
            // unit needs no asset path.
            resources: [.embedInCode("Assets"), .embedInCode("Templates")]),
        // The MQTT adapter: the only code that calls libmosquitto (docs/mqtt.md).
        .target(name: "MQTT", dependencies: ["CMosquitto", "DoorbellCore"]),
        // The doorbell on the owner's MQTT broker: Home Assistant's discovery, the plain topics,
        // and the bridge that keeps the broker off the ring path.
        .target(name: "HomeAutomation", dependencies: ["MQTT", "Config", "DoorbellCore", log, lifecycle]),
        // The local control socket that porchlightctl talks to.
        .target(name: "LocalControl", dependencies: ["DoorbellCore", log, lifecycle]),
        // sd_notify, the watchdog, journald logging.
        .target(name: "Systemd", dependencies: ["DoorbellCore", log, lifecycle, unixSignals, systemPackage]),

        // Fakes and recorders for tests.
        .target(name: "DoorbellTestKit", dependencies: ["DoorbellCore", "Privacy", "SyncProtocol", log]),

        // The doorbell's composition: every adapter and pipeline built from a Config into the
        // services porchlightd runs, as a library so that the wiring can be tested in-process.
        .target(
            name: "DoorbellAssembly",
            dependencies: [
                "DoorbellCore", "Config", "Systemd", "LinuxGPIO", "LinuxCamera", "LinuxAudio", "Audio", "LocalControl",
                "Media", "Privacy", "Uplink", "SyncProtocol", "HomeAutomation", "MQTT", log, lifecycle,
            ]
        ),

        // Thin executables: parse arguments, load config, compose services, run.
        .executableTarget(
            name: "porchlightd",
            dependencies: [
                "DoorbellAssembly", "DoorbellCore", "Config", "Systemd", "LocalControl", "Uplink", "Audio", "LinuxGPIO",
                "HomeAutomation", "MQTT", log, lifecycle, unixSignals, argumentParser,
            ],
            linkerSettings: hardenedLinking
        ),
        .executableTarget(
            name: "porchlightctl",
            dependencies: [
                "Audio", "Config", "DoorbellCore", "LinuxAudio", "LinuxCamera", "LinuxGPIO", "LocalControl", "Media",
                "JPEG", "Motion", "Privacy", "Uplink", "SyncProtocol", "HomeAutomation", "MQTT",
                log,
                lifecycle,
                argumentParser,
            ],
            linkerSettings: hardenedLinking
        ),

        .executableTarget(
            name: "porchlight-sync",
            dependencies: [
                "SyncModule", "SyncStorage", "SyncProtocol", "WebUI", "Config", "DoorbellCore", "Systemd", log,
                lifecycle,
                argumentParser,
            ],
            linkerSettings: hardenedLinking),
        .executableTarget(
            name: "porchlight-demo",
            dependencies: [
                "SyncModule", "SyncStorage", "SyncProtocol", "WebUI", "Uplink", "Config", log, lifecycle,
                argumentParser,
            ]),
        // The parsers of outside bytes as libFuzzer targets (Tests/Fuzz/run); a plain build
        // replays the committed corpus through them.
        .executableTarget(
            name: "porchlight-fuzz",
            dependencies: [
                "SyncProtocol", "Privacy", "Audio", "Config", "Media", "DoorbellCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        // Speed, reported in release builds: `swift run -c release porchlight-bench`.
        .executableTarget(
            name: "porchlight-bench",
            dependencies: [
                "DoorbellCore", "DoorbellTestKit", "Motion", "Media", "JPEG", "Config", "Uplink", "SyncModule",
                "SyncStorage", "WebPush", .product(name: "Crypto", package: "swift-crypto"),
                "SyncProtocol", "Audio", "LinuxAudio", "Privacy", "HomeAutomation", "MQTT", log,
                lifecycle,
            ],
            path: "Benchmarks/PorchlightBenchmarks"
        ),

        .testTarget(name: "DoorbellCoreTests", dependencies: ["DoorbellCore", "DoorbellTestKit", log, lifecycle]),
        .testTarget(
            name: "CLibrariesTests", dependencies: ["CGPIOD", "CV4L2", "CTurboJPEG", "CALSA", "CSpeexDSP"]),
        .testTarget(name: "LinuxGPIOTests", dependencies: ["LinuxGPIO", "DoorbellCore", "DoorbellTestKit"]),
        .testTarget(
            name: "PrivacyTests", dependencies: ["Privacy", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "AudioTests", dependencies: ["Audio", "DoorbellCore", "DoorbellTestKit", "Config", log]),
        .testTarget(
            name: "LinuxAudioTests",
            dependencies: ["LinuxAudio", "Audio", "CALSA", "DoorbellCore", "DoorbellTestKit", log, lifecycle]),
        .testTarget(
            name: "LinuxCameraTests", dependencies: ["LinuxCamera", "CV4L2", "DoorbellCore", "DoorbellTestKit", log]),
        .testTarget(
            name: "WebPushTests",
            dependencies: [
                "WebPush", "DoorbellTestKit", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            // The independent push endpoint the tests run (PyPI's http-ece).
            exclude: ["Scripts"]),
        .testTarget(
            name: "SyncProtocolTests",
            dependencies: ["SyncProtocol", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(
            name: "WebUITests",
            dependencies: [
                "WebUI", "SyncModule", "SyncStorage", "SyncProtocol", "DoorbellTestKit", log,
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .testTarget(
            name: "SyncModuleTests",
            dependencies: [
                "SyncModule", "SyncStorage", "SyncProtocol", "DoorbellTestKit", "DoorbellCore", "Uplink", "Media",
                "Audio",
                "LinuxAudio", "Privacy", "WebUI", "WebPush", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                log, lifecycle,
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .testTarget(
            name: "UplinkTests",
            dependencies: [
                "Uplink", "SyncProtocol", "Privacy", "DoorbellCore", "DoorbellTestKit", log,
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]),
        .testTarget(
            name: "MQTTTests", dependencies: ["MQTT", "DoorbellTestKit"],
            // The broker's subscriber the tests run (PyPI's paho-mqtt).
            exclude: ["Scripts"]),
        .testTarget(name: "LocalControlTests", dependencies: ["LocalControl", "DoorbellTestKit", log, lifecycle]),
        .testTarget(name: "MotionTests", dependencies: ["Motion", "Media", "JPEG", "Config", "DoorbellTestKit"]),
        .testTarget(
            name: "MediaTests",
            dependencies: [
                "Media", "JPEG", "Motion", "Config", "DoorbellCore", "DoorbellTestKit", "Privacy", log, lifecycle,
            ]),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "DoorbellCore", "DoorbellTestKit"]),
        .testTarget(
            name: "SystemdTests", dependencies: ["Systemd", "DoorbellCore", "DoorbellTestKit", log, lifecycle]),
        // Runs the real binaries as child processes; depending on them makes `swift test` build them.
        .testTarget(
            name: "porchlightdTests",
            dependencies: [
                "porchlightd", "porchlightctl", "porchlight-sync", "porchlight-demo", "DoorbellTestKit", "Uplink",
                "SyncModule", "SyncStorage", "Privacy", "DoorbellAssembly", "Config", "DoorbellCore",
                "SyncProtocol", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "GRDB", package: "GRDB.swift"),
                log, lifecycle,
            ],
            // Helper programs the tests run (a raw WebSocket client).
            exclude: ["Scripts"]),
    ],
    swiftLanguageModes: [.v6]
)

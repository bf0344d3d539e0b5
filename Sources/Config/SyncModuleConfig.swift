import TOMLKit

/// `porchlight-sync`'s configuration (config/sync.toml), validated like the daemon's.
public struct SyncModuleConfig: Sendable, Equatable {
    /// The address to listen on; "0.0.0.0" for every interface of the home network.
    public var host = "0.0.0.0"
    public var port = 8443
    /// Names doorbells reach the sync module by, put in its certificate.
    public var hostnames = ["porchlight-sync.local", "localhost"]
    public var stateDirectory = "/var/lib/porchlight-sync"
    /// The most disk media may use, in bytes (0: until the disk is full). Past it, uploads are
    /// answered 507 and doorbells keep their media until there is room.
    public var mediaMaxBytes = 0
    /// Snapshots and clips are deleted this many days after they arrived.
    public var retentionDays = 30
    /// How long a pairing code stays valid.
    public var pairingCodeLifetime = Duration.seconds(600)
    public var logLevel = LogLevel.info
    /// The longest live view the web page asks a doorbell for.
    public var liveViewMax = Duration.seconds(120)
    /// The bearer token `/metrics` asks for; nil (the default) serves no metrics. The counters say
    /// when the door rings and when someone is at it, which is not for strangers.
    public var metricsToken: String?
    /// How push services can reach whoever runs this sync module (VAPID's `sub`, RFC 8292): a
    /// `mailto:` or `https:` URL. Apple's push service refuses tokens without a real one.
    public var pushContact = "mailto:push@porchlight-sync.invalid"

    public init() {}
}

extension ConfigLoader {
    /// Reads and validates a sync module configuration, reporting every problem found.
    public static func loadSyncModule(path: String) throws(ConfigErrors) -> SyncModuleConfig {
        try parseSyncModule(try text(of: path), file: path)
    }

    public static func parseSyncModule(_ text: String, file: String) throws(ConfigErrors) -> SyncModuleConfig {
        let root = try parseTable(text, file: file)
        let diagnostics = Diagnostics(file: file, source: SourceIndex(text: text))
        let reader = TableReader(root, path: "", diagnostics: diagnostics)
        var config = SyncModuleConfig()
        let server = reader.table("server")
        config.host = server.string("host", default: config.host)
        config.port = server.int("port", default: config.port, in: 1...65535)
        if let names = server.raw("hostnames") {
            if let array = names.array, !array.isEmpty, array.allSatisfy({ $0.string?.isEmpty == false }) {
                config.hostnames = array.compactMap(\.string)
            } else {
                server.report(
                    "hostnames", "expected a non-empty list of host names, found \(TableReader.describe(names))")
            }
        }
        server.finish()
        let storage = reader.table("storage")
        config.stateDirectory = storage.string("state_directory", default: config.stateDirectory)
        if !config.stateDirectory.hasPrefix("/") {
            storage.report("state_directory", "expected an absolute path, found \"\(config.stateDirectory)\"")
        }
        config.mediaMaxBytes = storage.int("media_max_mb", default: 0, in: 0...16_777_216, unit: "MiB") << 20
        config.retentionDays = storage.int("retention_days", default: config.retentionDays, in: 1...180, unit: "days")
        storage.finish()
        let pairing = reader.table("pairing")
        config.pairingCodeLifetime = pairing.duration(
            "code_lifetime_s", default: config.pairingCodeLifetime, in: 30...86_400)
        pairing.finish()
        let web = reader.table("web")
        config.liveViewMax = web.duration("live_view_max_s", default: config.liveViewMax, in: 10...3600)
        web.finish()
        let metrics = reader.table("metrics")
        let token = metrics.string("token", default: "")
        if !token.isEmpty {
            if token.count >= 16, token.count <= 256,
                token.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0.isPrintable })
            {
                config.metricsToken = token
            } else {
                metrics.report(
                    "token", "expected 16–256 printable ASCII characters without spaces (try `openssl rand -hex 24`)")
            }
        }
        metrics.finish()
        let push = reader.table("push")
        config.pushContact = push.string("contact", default: config.pushContact)
        if !(config.pushContact.hasPrefix("mailto:") || config.pushContact.hasPrefix("https://"))
            || config.pushContact.utf8.count > 256
            || config.pushContact.contains(where: { $0.isWhitespace || $0 == "\"" })
        {
            push.report("contact", "expected a mailto: or https: URL of at most 256 characters, without spaces")
        }
        push.finish()
        let log = reader.table("log")
        config.logLevel = log.choice("level", default: config.logLevel)
        log.finish()
        reader.finish()
        try diagnostics.throwIfAny()
        return config
    }
}

extension Character {
    fileprivate var isPrintable: Bool { asciiValue.map { (0x21...0x7E).contains($0) } ?? false }
}

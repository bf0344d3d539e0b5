import Foundation
import Logging
import ServiceLifecycle
import SyncModule
import SyncStorage
import WebPush

/// The sync module as one piece: the store, the certificate, the media files, the API, the
/// owner's page and the services that keep them (the HTTPS server, the hourly retention sweep,
/// revocations enforced on open channels). `porchlight-sync serve` and the demo build it here, so
/// neither can leave a part out (the demo's own copy once ran without retention).
public struct SyncModuleAssembly: Sendable {
    /// What the caller chooses; the rest is the same everywhere.
    public struct Settings: Sendable {
        public var stateDirectory: String
        public var hostnames: [String]
        public var host: String
        /// 0 picks a free port; `onListening` hears which, with the certificate's fingerprint.
        public var port: Int
        /// 0: no quota.
        public var mediaMaxBytes: Int
        public var retentionDays: Int
        public var liveViewMax: Duration
        public var metricsToken: String?
        /// VAPID's contact (`[push] contact`).
        public var pushContact: String
        /// Plain-http push endpoints: for the tests' loopback push service only.
        public var pushAllowsHTTP = false

        public init(
            stateDirectory: String, hostnames: [String], host: String, port: Int, mediaMaxBytes: Int = 0,
            retentionDays: Int = 30, liveViewMax: Duration = .seconds(120), metricsToken: String? = nil,
            pushContact: String = "mailto:push@porchlight-sync.invalid"
        ) {
            self.pushContact = pushContact
            self.stateDirectory = stateDirectory
            self.hostnames = hostnames
            self.host = host
            self.port = port
            self.mediaMaxBytes = mediaMaxBytes
            self.retentionDays = retentionDays
            self.liveViewMax = liveViewMax
            self.metricsToken = metricsToken
        }
    }

    public let store: SQLiteSyncStore
    public let identity: ServerIdentity
    /// Run these (in a `ServiceGroup`) to serve.
    public let services: [any Service]

    /// Opens (or creates, owner-only) the state directory and everything in it.
    public init(
        _ settings: Settings, logger: Logger,
        onListening: @escaping @Sendable (_ port: Int, _ fingerprint: String) async -> Void = { _, _ in }
    ) throws {
        try FileManager.default.createDirectory(
            atPath: settings.stateDirectory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        store = try SQLiteSyncStore(path: settings.stateDirectory + "/sync.sqlite")
        identity = try ServerIdentity.loadOrCreate(directory: settings.stateDirectory, hostnames: settings.hostnames)
        let media = try MediaFiles(directory: settings.stateDirectory + "/media", maxBytes: settings.mediaMaxBytes)
        var retentionLogger = logger
        retentionLogger[metadataKey: "part"] = "retention"
        let retention = MediaRetention(
            store: store, files: media, days: settings.retentionDays, logger: retentionLogger)
        let api = SyncAPI(
            store: store, media: media, certificatePEM: identity.certificatePEM, retention: retention,
            metricsToken: settings.metricsToken, logger: logger)
        // The push key beside the TLS key: every browser's subscription is bound to it.
        let pushKey = try VAPIDKey.loadOrCreate(path: settings.stateDirectory + "/vapid.key")
        let push = PushNotifier(
            store: store, feed: api.feed, key: pushKey, subject: settings.pushContact,
            allowHTTP: settings.pushAllowsHTTP, logger: logger)
        let web = try WebApp(
            store: store, api: api, media: media, push: push, logger: logger, liveMax: settings.liveViewMax)
        let server = try SyncServer.application(
            api: api, identity: identity, host: settings.host, port: settings.port, logger: logger,
            routes: [web.install]
        ) { [fingerprint = identity.fingerprint] port in await onListening(port, fingerprint) }
        services = [
            server, push, Housekeeping(every: .seconds(3600)) { retention.sweep() },
            Housekeeping(every: .milliseconds(500)) { api.enforceRevocations() },
        ]
    }
}

/// Runs `work` at start and then every `interval` until shutdown. (The doorbell's
/// `PeriodicService` does the same; the sync side does not link the doorbell's domain.)
struct Housekeeping: Service {
    let interval: Duration
    let work: @Sendable () -> Void

    init(every interval: Duration, _ work: @escaping @Sendable () -> Void) {
        self.interval = interval
        self.work = work
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            work()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}

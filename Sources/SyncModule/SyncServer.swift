import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOSSL

/// The sync module's HTTPS server: the API behind TLS with the module's own certificate.
public enum SyncServer {
    /// An application serving `api` on `host:port` (port 0 picks a free one; `onRunning` hears it).
    public static func application(
        api: SyncAPI, identity: ServerIdentity, host: String, port: Int, logger: Logger,
        limits: ConnectionLimits = ConnectionLimits(), routes: [(Router<SyncRequestContext>) -> Void] = [],
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [
                .certificate(try NIOSSLCertificate(bytes: Array(identity.certificatePEM.utf8), format: .pem))
            ],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem)))
        let router = api.makeRouter()
        for add in routes { add(router) }
        // Pings every 15 s: a doorbell or a page that misses one is dropped.
        let webSocket = WebSocketServerConfiguration(
            maxFrameSize: 1 << 20, autoPing: .enabled(timePeriod: .seconds(15)))
        let http = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(idleTimeout: .milliseconds(Int64(limits.idle / .milliseconds(1)))), ws: webSocket)
        let webSocketResponder = router.buildResponder()
        let counts = ConnectionCounts(limits: limits)
        let refusals = RefusalLog()
        // TLS, then the connection guard, then HTTP with the WebSocket upgrade.
        let server = HTTPServerBuilder { responder in
            try TLSChannel(
                GuardedChannel(
                    base: HTTP1WebSocketUpgradeChannel(
                        responder: responder, webSocketResponder: webSocketResponder, configuration: http),
                    counts: counts, refusals: refusals),
                tlsConfiguration: tls)
        }
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: "porchlight-sync", backlog: 1024),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }
}

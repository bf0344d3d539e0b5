import Hummingbird
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
        routes: [(Router<SyncRequestContext>) -> Void] = [],
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [
                .certificate(try NIOSSLCertificate(bytes: Array(identity.certificatePEM.utf8), format: .pem))
            ],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(identity.privateKeyPEM.utf8), format: .pem)))
        let router = api.makeRouter()
        for add in routes { add(router) }
        // Heartbeats every 15 s: a channel that misses one is closed, and the doorbell reconnects.
        let webSocket = WebSocketServerConfiguration(
            maxFrameSize: 1 << 20, autoPing: .enabled(timePeriod: .seconds(15)))
        return Application(
            router: router,
            server: try .tls(
                .http1WebSocketUpgrade(webSocketRouter: router, configuration: webSocket), tlsConfiguration: tls),
            configuration: .init(address: .hostname(host, port: port), serverName: "porchlight-sync"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }
}

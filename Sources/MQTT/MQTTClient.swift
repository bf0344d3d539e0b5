internal import CMosquitto
import DoorbellCore
import Foundation
import Synchronization

/// How to reach the broker (`[mqtt]`, docs/mqtt.md).
public struct MQTTSettings: Sendable, Equatable {
    public enum Version: Sendable, Equatable {
        case v311, v5
    }

    /// How the broker is trusted.
    public enum Security: Sendable, Equatable {
        /// Plain TCP: for a broker on the same host or a trusted wire.
        case none
        /// TLS against the system's CAs, checked against `host`.
        case systemCAs
        /// TLS against this CA (a PEM file), checked against `host`.
        case caFile(String)
        /// TLS to the broker whose certificate is this one (a PEM file) and no other, whatever
        /// name it carries: the pin is the identity.
        case pinned(String)
    }

    public struct Will: Sendable, Equatable {
        public var topic: String
        public var payload: String

        public init(topic: String, payload: String) {
            self.topic = topic
            self.payload = payload
        }
    }

    public var host: String
    public var port: Int
    public var clientID: String
    public var username: String?
    public var password: String?
    public var version: Version
    public var security: Security
    public var keepalive: Int
    /// Published (retained) by the broker when this client goes without a word: availability.
    public var will: Will?
    /// Subscribed at QoS 1 after every CONNACK (the session is clean).
    public var subscriptions: [String]
    /// The wait between connection attempts: jittered, doubling from the bottom to the top.
    public var retry: ClosedRange<Duration>

    public init(
        host: String, port: Int, clientID: String, username: String? = nil, password: String? = nil,
        version: Version = .v311, security: Security = .none, keepalive: Int = 30, will: Will? = nil,
        subscriptions: [String] = [], retry: ClosedRange<Duration> = .seconds(1) ... .seconds(60)
    ) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.username = username
        self.password = password
        self.version = version
        self.security = security
        self.keepalive = keepalive
        self.will = will
        self.subscriptions = subscriptions
        self.retry = retry
    }
}

/// What went wrong, naming the libmosquitto call or the broker's answer.
public struct MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
    public var action: String
    public var reason: String
    /// The broker's CONNACK code when it refused the connection (5: not authorised).
    public var connack: Int32?
    /// A TLS failure (the handshake or the certificate check).
    public var tls = false

    public init(action: String, reason: String, connack: Int32? = nil, tls: Bool = false) {
        self.action = action
        self.reason = reason
        self.connack = connack
        self.tls = tls
    }

    public var description: String { "cannot \(action): \(reason)" }
}

/// One MQTT client through libmosquitto on a network thread of its own, which connects,
/// reconnects with jittered backoff, and runs the protocol (keepalive, QoS 1 acknowledgements).
/// Nothing here blocks its callers: `publish` hands a packet to libmosquitto and waits (at
/// most its timeout) for the PUBACK; while the broker is away it fails at once.
public final class MQTTClient: Sendable {
    /// What the network thread reports, in order, on that thread: handlers must not block.
    public enum Event: Sendable {
        /// CONNACK accepted; the subscriptions are requested.
        case connected
        /// A connection attempt failed or the broker refused it; another follows after the backoff.
        case failed(MQTTError)
        /// An open connection ended.
        case disconnected(String)
        case message(topic: String, payload: [UInt8])
    }

    private struct State {
        var connected = false
        var stopping = false
        var published: [Int32: CheckedContinuation<Bool, Never>] = [:]
        /// PUBACKs that came before their publication began to wait (microseconds apart).
        var acknowledged: Set<Int32> = []
        /// Publications given up on (timed out, or the connection dropped): a late PUBACK for one
        /// is ignored, and cannot be taken for a later publication that reuses its id.
        var abandoned: Set<Int32> = []
        /// The last error libmosquitto logged (OpenSSL's reason for a failed handshake).
        var lastLog: String?
        var connack: Int32?
    }

    // The handle is used from any thread: libmosquitto locks its own state (threaded mode).
    nonisolated(unsafe) private let handle: OpaquePointer
    nonisolated(unsafe) private let sslContext: OpaquePointer?
    private let settings: MQTTSettings
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let handler: @Sendable (Event) -> Void
    /// Larger messages from the broker are dropped unread: commands are a few bytes.
    public static let maxIncoming = 4096

    private static let initialized: Int32 = mosquitto_lib_init()

    /// The corresponding C functions are `mosquitto_new`, `_username_pw_set`, `_tls_set`,
    /// `_will_set`, `_int_option` and `_void_option`.
    public init(_ settings: MQTTSettings, handler: @escaping @Sendable (Event) -> Void) throws(MQTTError) {
        _ = Self.initialized
        self.settings = settings
        self.handler = handler
        guard let handle = mosquitto_new(settings.clientID, true, nil) else {
            throw MQTTError(action: "create an MQTT client", reason: String(cString: strerror(errno)))
        }
        self.handle = handle
        var context: OpaquePointer?
        if case .pinned(let file) = settings.security {
            context = try Self.pinnedContext(file)
        }
        sslContext = context
        mosquitto_threaded_set(handle, true)
        try check(
            mosquitto_int_option(
                handle, MOSQ_OPT_PROTOCOL_VERSION, settings.version == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311),
            "set the MQTT version")
        if let username = settings.username {
            try check(mosquitto_username_pw_set(handle, username, settings.password), "set the MQTT credentials")
        }
        switch settings.security {
        case .none: break
        case .systemCAs:
            try check(mosquitto_int_option(handle, MOSQ_OPT_TLS_USE_OS_CERTS, 1), "use the system's CAs")
        case .caFile(let file):
            try check(mosquitto_tls_set(handle, file, nil, nil, nil, nil), "use the broker's CA \(file)")
        case .pinned:
            try check(mosquitto_int_option(handle, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0), "use the pinned certificate")
            try check(mosquitto_void_option(handle, MOSQ_OPT_SSL_CTX, UnsafeMutableRawPointer(context)), "use the pin")
            // The name is not checked: the certificate itself is.
            try check(mosquitto_tls_insecure_set(handle, true), "use the pinned certificate")
        }
        if let will = settings.will {
            let bytes = Array(will.payload.utf8)
            try check(mosquitto_will_set(handle, will.topic, Int32(bytes.count), bytes, 1, true), "set the last will")
        }
        installCallbacks()
    }

    deinit {
        mosquitto_destroy(handle)
        if let sslContext { SSL_CTX_free(sslContext) }
    }

    /// An OpenSSL context that trusts exactly the certificate in `file` (X509_V_FLAG_PARTIAL_CHAIN
    /// makes a leaf a trust anchor), TLS 1.2 or later.
    private static func pinnedContext(_ file: String) throws(MQTTError) -> OpaquePointer {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw MQTTError(action: "make a TLS context", reason: "OpenSSL failed", tls: true)
        }
        guard porchlight_ssl_ctx_min_tls12(context) == 1, SSL_CTX_load_verify_locations(context, file, nil) == 1
        else {
            SSL_CTX_free(context)
            throw MQTTError(
                action: "read the pinned certificate \(file)", reason: "not a PEM certificate OpenSSL can read",
                tls: true)
        }
        X509_STORE_set_flags(SSL_CTX_get_cert_store(context), UInt(X509_V_FLAG_PARTIAL_CHAIN))
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        return context
    }

    private func installCallbacks() {
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_connect_callback_set(handle) { _, object, code in
            guard let object else { return }
            Unmanaged<MQTTClient>.fromOpaque(object).takeUnretainedValue().didConnect(code)
        }
        mosquitto_disconnect_callback_set(handle) { _, object, _ in
            guard let object else { return }
            Unmanaged<MQTTClient>.fromOpaque(object).takeUnretainedValue().dropConnection()
        }
        mosquitto_publish_callback_set(handle) { _, object, mid in
            guard let object else { return }
            Unmanaged<MQTTClient>.fromOpaque(object).takeUnretainedValue().didPublish(mid)
        }
        mosquitto_message_callback_set(handle) { _, object, message in
            guard let object, let message, let topic = message.pointee.topic else { return }
            let length = Int(message.pointee.payloadlen)
            guard length >= 0, length <= MQTTClient.maxIncoming else { return }
            let payload =
                message.pointee.payload.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
            Unmanaged<MQTTClient>.fromOpaque(object).takeUnretainedValue().handler(
                .message(topic: String(cString: topic), payload: payload))
        }
        mosquitto_log_callback_set(handle) { _, object, level, text in
            guard let object, let text, level & Int32(MOSQ_LOG_ERR) != 0 else { return }
            let line = String(cString: text)
            Unmanaged<MQTTClient>.fromOpaque(object).takeUnretainedValue().state.withLock { $0.lastLog = line }
        }
    }

    private func check(_ code: Int32, _ action: String) throws(MQTTError) {
        guard code == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(action: action, reason: String(cString: mosquitto_strerror(code)))
        }
    }

    public var isConnected: Bool { state.withLock { $0.connected } }

    /// Starts the network thread; it runs until `stop`.
    public func start() {
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "mqtt"
        thread.start()
    }

    /// Publishes `last` (at QoS 1, for availability) if connected, disconnects cleanly and waits
    /// at most `timeout` for the network thread to end.
    public func stop(last: (topic: String, payload: String)? = nil, timeout: Duration = .seconds(2)) async {
        if let last, isConnected {
            try? await publish(last.topic, Array(last.payload.utf8), retain: true, timeout: timeout)
        }
        state.withLock { $0.stopping = true }
        mosquitto_disconnect(handle)
        wake.signal()
        let seconds = Self.seconds(timeout)
        let done = finished
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                _ = done.wait(timeout: .now() + seconds)
                continuation.resume()
            }
        }
    }

    private var stopping: Bool { state.withLock { $0.stopping } }

    /// For DispatchSemaphore's timeouts.
    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// The network thread: connect, run the loop until the connection ends, back off, again.
    /// The corresponding C functions are `mosquitto_connect` and `mosquitto_loop`.
    private func run() {
        var backoff = Backoff(settings.retry)
        let target = "connect to the MQTT broker at \(settings.host):\(settings.port)"
        while !stopping {
            state.withLock {
                $0.lastLog = nil
                $0.connack = nil
            }
            let code = mosquitto_connect(handle, settings.host, Int32(settings.port), Int32(settings.keepalive))
            if code == MOSQ_ERR_SUCCESS.rawValue {
                var result = MOSQ_ERR_SUCCESS.rawValue
                while !stopping && result == MOSQ_ERR_SUCCESS.rawValue {
                    result = mosquitto_loop(handle, 200, 1)
                }
                // The disconnect callback may have run already; CONNACK 0 says the connection was up.
                let (connack, log) = state.withLock { ($0.connack, $0.lastLog) }
                dropConnection()
                if stopping { break }
                if connack == 0 {
                    backoff.reset()
                    handler(.disconnected(String(cString: mosquitto_strerror(result))))
                } else if let connack, connack != 0 {
                    handler(
                        .failed(
                            MQTTError(
                                action: target, reason: String(cString: mosquitto_connack_string(connack)),
                                connack: connack)))
                } else {
                    handler(.failed(Self.error(target, code: result, log: log)))
                }
            } else {
                handler(.failed(Self.error(target, code: code, log: state.withLock { $0.lastLog })))
            }
            let wait = backoff.next()
            _ = wake.wait(timeout: .now() + Self.seconds(wait))
        }
    }

    private static func error(_ action: String, code: Int32, log: String?) -> MQTTError {
        let tls = code == MOSQ_ERR_TLS.rawValue || log?.contains("OpenSSL") == true
        var reason =
            code == MOSQ_ERR_ERRNO.rawValue
            ? String(cString: strerror(errno)) : String(cString: mosquitto_strerror(code))
        if let log { reason += " (\(log))" }
        return MQTTError(action: action, reason: reason, tls: tls)
    }

    private func didConnect(_ code: Int32) {
        state.withLock {
            $0.connack = code
            $0.connected = code == 0
        }
        guard code == 0 else { return }
        for topic in settings.subscriptions { mosquitto_subscribe(handle, nil, topic, 1) }
        handler(.connected)
    }

    /// The connection ended: every publication still waiting for its PUBACK fails now.
    private func dropConnection() {
        let waiting = state.withLock { state in
            state.connected = false
            // Bounded by the ids (65,535): libmosquitto may still deliver a PUBACK after reconnecting.
            if state.abandoned.count < 4096 { state.abandoned.formUnion(state.published.keys) }
            state.acknowledged = []
            defer { state.published = [:] }
            return Array(state.published.values)
        }
        for continuation in waiting { continuation.resume(returning: false) }
    }

    /// Publishes `payload` at QoS 1 and waits for the broker's PUBACK, at most `timeout`; fails
    /// at once while not connected. The corresponding C function is `mosquitto_publish`.
    public func publish(
        _ topic: String, _ payload: [UInt8], retain: Bool = false, timeout: Duration = .seconds(5)
    ) async throws(MQTTError) {
        guard isConnected else {
            throw MQTTError(action: "publish to \(topic)", reason: "not connected to the broker")
        }
        var mid: Int32 = 0
        try check(
            mosquitto_publish(handle, &mid, topic, Int32(payload.count), payload, 1, retain), "publish to \(topic)")
        let acknowledged = await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if state.acknowledged.remove(mid) != nil { return true }
                state.published[mid] = continuation
                return false
            }
            if done {
                continuation.resume(returning: true)
                return
            }
            Task { [mid] in
                try? await Task.sleep(for: timeout)
                let late = self.state.withLock { state in
                    let late = state.published.removeValue(forKey: mid)
                    if late != nil { state.abandoned.insert(mid) }
                    return late
                }
                late?.resume(returning: false)
            }
        }
        guard acknowledged else {
            throw MQTTError(action: "publish to \(topic)", reason: "the broker did not acknowledge it")
        }
    }

    private func didPublish(_ mid: Int32) {
        let waiting = state.withLock { state in
            guard let continuation = state.published.removeValue(forKey: mid) else {
                // Bounded: a PUBACK arrives once per publication, and usually after its wait began.
                if state.abandoned.remove(mid) == nil && state.acknowledged.count < 1024 {
                    state.acknowledged.insert(mid)
                }
                return nil as CheckedContinuation<Bool, Never>?
            }
            return continuation
        }
        waiting?.resume(returning: true)
    }
}

extension MQTTClient {
    /// Connects once for a check (`porchlightctl hw mqtt`): the first outcome within `timeout`,
    /// nil when connected.
    public static func probe(_ settings: MQTTSettings, timeout: Duration) async throws(MQTTError) -> MQTTClient {
        let outcome = Mutex<(done: Bool, continuation: CheckedContinuation<MQTTError?, Never>?)>((false, nil))
        let finish: @Sendable (MQTTError?) -> Void = { error in
            let waiting = outcome.withLock { state -> CheckedContinuation<MQTTError?, Never>? in
                guard !state.done else { return nil }
                state.done = true
                defer { state.continuation = nil }
                return state.continuation
            }
            waiting?.resume(returning: error)
        }
        let client = try MQTTClient(settings) { event in
            switch event {
            case .connected: finish(nil)
            case .failed(let error): finish(error)
            default: break
            }
        }
        let error = await withCheckedContinuation { continuation in
            outcome.withLock { $0.continuation = continuation }
            client.start()
            Task {
                try? await Task.sleep(for: timeout)
                finish(
                    MQTTError(
                        action: "connect to the MQTT broker at \(settings.host):\(settings.port)",
                        reason:
                            "no answer within \(timeout) (a wrong port, a firewall, or TLS the broker does not speak)"
                    ))
            }
        }
        if let error {
            await client.stop()
            throw error
        }
        return client
    }
}

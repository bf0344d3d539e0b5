internal import CMosquitto
import Foundation
import Synchronization

/// How to reach the broker (`[mqtt]`, docs/mqtt.md).
public struct MQTTSettings: Sendable, Equatable {
    public enum Version: Sendable, Equatable {
        case v311, v5
    }

    public var host: String
    public var port: Int
    public var clientID: String
    public var username: String?
    public var password: String?
    public var version: Version
    /// The broker's CA (PEM file): TLS when set, checked against `host`.
    public var caFile: String?
    public var keepalive: Int
    /// Published by the broker when this client goes without a word (availability).
    public var will: Will?

    public struct Will: Sendable, Equatable {
        public var topic: String
        public var payload: String

        public init(topic: String, payload: String) {
            self.topic = topic
            self.payload = payload
        }
    }

    public init(
        host: String, port: Int, clientID: String, username: String? = nil, password: String? = nil,
        version: Version = .v311, caFile: String? = nil, keepalive: Int = 30, will: Will? = nil
    ) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.username = username
        self.password = password
        self.version = version
        self.caFile = caFile
        self.keepalive = keepalive
        self.will = will
    }
}

/// What went wrong, naming the libmosquitto call or the broker's answer.
public struct MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
    public var action: String
    public var reason: String
    /// The broker's CONNACK code when it refused the connection (5: not authorised).
    public var connack: Int32?

    public var description: String { "cannot \(action): \(reason)" }
}

/// One connection to an MQTT broker through libmosquitto, whose own network thread
/// (`mosquitto_loop_start`) runs the protocol: keepalive, QoS 1 acknowledgements, and the
/// callbacks that resume the waiting calls here.
public final class MQTTClient: Sendable {
    private struct State {
        var connected: CheckedContinuation<Int32, Never>?
        var published: [Int32: CheckedContinuation<Bool, Never>] = [:]
        var acknowledged: Set<Int32> = []
    }

    // The handle is used from any thread: libmosquitto locks its own state (a threaded build).
    nonisolated(unsafe) private let handle: OpaquePointer
    private let settings: MQTTSettings
    private let state = Mutex(State())

    private static let initialized: Int32 = mosquitto_lib_init()

    /// The corresponding C functions are `mosquitto_new`, `_username_pw_set`, `_tls_set`,
    /// `_will_set` and `_int_option`.
    public init(_ settings: MQTTSettings) throws(MQTTError) {
        _ = Self.initialized
        self.settings = settings
        guard let handle = mosquitto_new(settings.clientID, true, nil) else {
            throw MQTTError(action: "create an MQTT client", reason: String(cString: strerror(errno)))
        }
        self.handle = handle
        try check(
            mosquitto_int_option(
                handle, MOSQ_OPT_PROTOCOL_VERSION, settings.version == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311),
            "set the MQTT version")
        if let username = settings.username {
            try check(mosquitto_username_pw_set(handle, username, settings.password), "set the MQTT credentials")
        }
        if let caFile = settings.caFile {
            try check(mosquitto_tls_set(handle, caFile, nil, nil, nil, nil), "use the broker's CA \(caFile)")
        }
        if let will = settings.will {
            let bytes = Array(will.payload.utf8)
            try check(
                mosquitto_will_set(handle, will.topic, Int32(bytes.count), bytes, 1, true), "set the last will")
        }
        mosquitto_user_data_set(handle, Unmanaged.passUnretained(self).toOpaque())
        mosquitto_connect_callback_set(handle) { _, object, code in
            guard let object else { return }
            Unmanaged<MQTTClient>.fromOpaque(object).takeUnretainedValue().didConnect(code)
        }
        mosquitto_publish_callback_set(handle) { _, object, mid in
            guard let object else { return }
            Unmanaged<MQTTClient>.fromOpaque(object).takeUnretainedValue().didPublish(mid)
        }
    }

    deinit {
        mosquitto_disconnect(handle)
        mosquitto_loop_stop(handle, true)
        mosquitto_destroy(handle)
    }

    private func check(_ code: Int32, _ action: String) throws(MQTTError) {
        guard code == MOSQ_ERR_SUCCESS.rawValue else {
            throw MQTTError(action: action, reason: String(cString: mosquitto_strerror(code)))
        }
    }

    /// Connects and waits for the broker's CONNACK, at most `timeout`. The corresponding C
    /// functions are `mosquitto_connect_async` and `mosquitto_loop_start`.
    public func connect(timeout: Duration = .seconds(10)) async throws(MQTTError) {
        let target = "connect to the MQTT broker at \(settings.host):\(settings.port)"
        try check(
            mosquitto_connect_async(handle, settings.host, Int32(settings.port), Int32(settings.keepalive)), target)
        try check(mosquitto_loop_start(handle), "start the MQTT network thread")
        let code = await withCheckedContinuation { continuation in
            state.withLock { $0.connected = continuation }
            Task {
                try? await Task.sleep(for: timeout)
                self.didConnect(-1)
            }
        }
        if code == -1 {
            throw MQTTError(
                action: target,
                reason: "no answer within \(timeout) (a wrong port, a firewall, or TLS the broker does not speak)")
        }
        guard code == 0 else {
            throw MQTTError(action: target, reason: String(cString: mosquitto_connack_string(code)), connack: code)
        }
    }

    private func didConnect(_ code: Int32) {
        let waiting = state.withLock { state in
            defer { state.connected = nil }
            return state.connected
        }
        waiting?.resume(returning: code)
    }

    /// Publishes `payload` at QoS 1 and waits for the broker's PUBACK, at most `timeout` (a
    /// broker that stops answering never holds the caller). The corresponding C function is
    /// `mosquitto_publish`.
    public func publish(
        _ topic: String, _ payload: [UInt8], retain: Bool = false, timeout: Duration = .seconds(10)
    ) async throws(MQTTError) {
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
                let late = self.state.withLock { $0.published.removeValue(forKey: mid) }
                late?.resume(returning: false)
            }
        }
        guard acknowledged else {
            throw MQTTError(
                action: "publish to \(topic)", reason: "the broker did not acknowledge it within \(timeout)")
        }
    }

    private func didPublish(_ mid: Int32) {
        let waiting = state.withLock { state in
            guard let continuation = state.published.removeValue(forKey: mid) else {
                state.acknowledged.insert(mid)
                return nil as CheckedContinuation<Bool, Never>?
            }
            return continuation
        }
        waiting?.resume(returning: true)
    }
}

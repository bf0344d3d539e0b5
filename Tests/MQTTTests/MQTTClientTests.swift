import DoorbellTestKit
import Foundation
import MQTT
import Synchronization
import Testing

extension MQTTBroker {
    func settings(
        password: String = MQTTBroker.password, version: MQTTSettings.Version = .v311, host: String = "127.0.0.1",
        security: MQTTSettings.Security = .none
    ) -> MQTTSettings {
        MQTTSettings(
            host: host, port: security == .none ? port : tlsPort,
            clientID: "porchlight-test-\(UUID().uuidString.prefix(8))", username: MQTTBroker.user, password: password,
            version: version, security: security, retry: .milliseconds(100) ... .milliseconds(500))
    }
}

@Suite("The MQTT adapter against a real mosquitto", .serialized, .timeLimit(.minutes(5)))
struct MQTTClientTests {
    @Test(
        "with the password, a QoS 1 publication reaches an independent subscriber, on MQTT 3.1.1 and 5",
        arguments: [MQTTSettings.Version.v311, .v5])
    func publishes(version: MQTTSettings.Version) async throws {
        let broker = try await MQTTBroker()
        let subscriber = try await MQTTSubscriber(broker: broker, topics: ["porchlight/test/#"])
        let client = try await MQTTClient.probe(broker.settings(version: version), timeout: .seconds(20))
        try await client.publish("porchlight/test/ring", Array(#"{"event":"e1"}"#.utf8))
        await client.stop()
        #expect(await eventually { subscriber.messages().count == 1 })
        let message = try #require(subscriber.messages().first)
        #expect(message["topic"] as? String == "porchlight/test/ring")
        #expect(message["payload"] as? String == #"{"event":"e1"}"#)
        await subscriber.stop()
        await broker.stop()
    }

    @Test("a refused password is the broker's answer, named")
    func refusedPassword() async throws {
        let broker = try await MQTTBroker()
        let error = await #expect(throws: MQTTError.self) {
            _ = try await MQTTClient.probe(broker.settings(password: "wrong"), timeout: .seconds(20))
        }
        #expect(error?.connack == 5, "\(String(describing: error))")
        #expect(error?.description.contains("not authorised") == true, "\(String(describing: error))")
        await broker.stop()
    }

    @Test("nothing listening on the port: connecting fails and says where")
    func wrongPort() async throws {
        let settings = MQTTSettings(host: "127.0.0.1", port: 1, clientID: "porchlight-test")
        let error = await #expect(throws: MQTTError.self) {
            _ = try await MQTTClient.probe(settings, timeout: .seconds(20))
        }
        #expect(error?.description.contains("127.0.0.1:1") == true, "\(String(describing: error))")
        #expect(error?.reason.contains("refused") == true, "\(String(describing: error))")
    }

    @Test("TLS with the broker's CA and its name; the same CA under another name is refused as a TLS failure")
    func tlsWithCA() async throws {
        let broker = try await MQTTBroker()
        let subscriber = try await MQTTSubscriber(broker: broker, topics: ["porchlight/tls"], tls: true)
        let client = try await MQTTClient.probe(
            broker.settings(host: "localhost", security: .caFile(broker.caFile)), timeout: .seconds(20))
        try await client.publish("porchlight/tls", Array("over TLS".utf8))
        await client.stop()
        #expect(await eventually { subscriber.payloads("porchlight/tls") == ["over TLS"] })
        // The certificate names localhost, not 127.0.0.1.
        let error = await #expect(throws: MQTTError.self) {
            _ = try await MQTTClient.probe(
                broker.settings(host: "127.0.0.1", security: .caFile(broker.caFile)), timeout: .seconds(20))
        }
        #expect(error?.tls == true, "\(String(describing: error))")
        // Plain MQTT to the TLS listener gets no CONNACK.
        let plain = await #expect(throws: MQTTError.self) {
            var settings = broker.settings()
            settings.port = broker.tlsPort
            _ = try await MQTTClient.probe(settings, timeout: .seconds(5))
        }
        #expect(plain?.connack == nil, "\(String(describing: plain))")
        await subscriber.stop()
        await broker.stop()
    }

    @Test("a pinned certificate: the broker's own is trusted under any name; another one is refused")
    func pinned() async throws {
        let broker = try await MQTTBroker()
        let client = try await MQTTClient.probe(
            broker.settings(host: "127.0.0.1", security: .pinned(broker.certificateFile)), timeout: .seconds(20))
        #expect(client.isConnected)
        await client.stop()
        let error = await #expect(throws: MQTTError.self) {
            _ = try await MQTTClient.probe(
                broker.settings(host: "localhost", security: .pinned(broker.otherCertificateFile)),
                timeout: .seconds(20))
        }
        #expect(error?.tls == true, "\(String(describing: error))")
        await broker.stop()
    }

    @Test("the client reconnects by itself after the broker restarts, and reports the loss and the return")
    func reconnects() async throws {
        let broker = try await MQTTBroker()
        let events = Mutex<[String]>([])
        let client = try MQTTClient(broker.settings()) { event in
            let name =
                switch event {
                case .connected: "connected"
                case .failed: "failed"
                case .disconnected: "disconnected"
                case .message: "message"
                }
            events.withLock { $0.append(name) }
        }
        client.start()
        #expect(await eventually(timeout: .seconds(20)) { client.isConnected })
        await broker.stop()
        #expect(await eventually(timeout: .seconds(20)) { events.withLock { $0.contains("disconnected") } })
        await #expect(throws: MQTTError.self) { try await client.publish("porchlight/x", [1]) }
        try await broker.start()
        #expect(
            await eventually(timeout: .seconds(30)) { events.withLock { $0.filter { $0 == "connected" }.count == 2 } })
        try await client.publish("porchlight/x", [1])
        await client.stop()
        await broker.stop()
    }
}

import DoorbellTestKit
import Foundation
import MQTT
import Synchronization
import Testing

struct SetupFailure: Error, CustomStringConvertible {
    var description: String
}

/// Debian's mosquitto on a loopback port with a password file, started by the test.
final class Broker: Sendable {
    let process = Process()
    let port: Int
    let directory: TemporaryDirectory
    static let user = "doorbell"
    static let password = "a long broker password"

    init() async throws {
        directory = try TemporaryDirectory()
        port = 30_000 + Int.random(in: 0..<20_000)
        let passwords = directory.path + "/passwords"
        let make = Process()
        make.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_passwd")
        make.arguments = ["-b", "-c", passwords, Self.user, Self.password]
        try make.run()
        _ = await eventually(timeout: .seconds(20)) { !make.isRunning }
        guard !make.isRunning, make.terminationStatus == 0 else {
            throw SetupFailure(description: "mosquitto_passwd did not make the password file")
        }
        let config = try directory.write(
            "mosquitto.conf",
            "listener \(port) 127.0.0.1\nallow_anonymous false\npassword_file \(passwords)\npersistence false\n"
                // Started as root it would become the mosquitto user, who cannot read this directory.
                + (getuid() == 0 ? "user root\n" : ""))
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/mosquitto")
        process.arguments = ["-c", config]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let up = await eventually(timeout: .seconds(20)) { Self.accepts(self.port) }
        guard up else { throw SetupFailure(description: "mosquitto did not listen on \(port)") }
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    func settings(password: String = Broker.password, version: MQTTSettings.Version = .v311) -> MQTTSettings {
        MQTTSettings(
            host: "127.0.0.1", port: port, clientID: "porchlight-test-\(UUID().uuidString.prefix(8))",
            username: Self.user, password: password, version: version)
    }

    func stop() async {
        kill(process.processIdentifier, SIGKILL)
        _ = await eventually(timeout: .seconds(10)) { !process.isRunning }
    }
}

/// The subscriber the tests read: paho-mqtt, one JSON line per message.
final class Subscriber: Sendable {
    let process = Process()
    let lines = Mutex<[String]>([])

    init(broker: Broker, topic: String) async throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", repositoryRoot + "/Tests/MQTTTests/Scripts/subscriber.py", "127.0.0.1", String(broker.port),
            Broker.user, Broker.password, topic,
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let reader = LineReader(output.fileHandleForReading)
        Thread.detachNewThread { [self] in
            while let line = reader.next() { self.lines.withLock { $0.append(line) } }
        }
        let ready = await eventually(timeout: .seconds(20)) {
            self.lines.withLock { $0.contains { $0.contains("ready") } }
        }
        guard ready else {
            throw SetupFailure(description: "the paho subscriber did not start (pip install paho-mqtt, .ci/install)")
        }
    }

    func messages() -> [[String: Any]] {
        lines.withLock { $0 }.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }.filter { $0["topic"] != nil }
    }

    func stop() async {
        kill(process.processIdentifier, SIGKILL)
        _ = await eventually(timeout: .seconds(10)) { !process.isRunning }
    }
}

@Suite("The MQTT adapter against a real mosquitto", .serialized, .timeLimit(.minutes(5)))
struct MQTTClientTests {
    @Test(
        "with the password, a QoS 1 publication reaches an independent subscriber, on MQTT 3.1.1 and 5",
        arguments: [MQTTSettings.Version.v311, .v5])
    func publishes(version: MQTTSettings.Version) async throws {
        let broker = try await Broker()
        let subscriber = try await Subscriber(broker: broker, topic: "porchlight/test/#")
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
        let broker = try await Broker()
        let error = await #expect(throws: MQTTError.self) {
            _ = try await MQTTClient.probe(broker.settings(password: "wrong"), timeout: .seconds(20))
        }
        #expect(error?.connack == 5, "\(String(describing: error))")
        #expect(error?.description.contains("not authorised") == true, "\(String(describing: error))")
        await broker.stop()
    }

    @Test("nothing listening on the port: connecting fails and says where")
    func wrongPort() async throws {
        var settings = MQTTSettings(host: "127.0.0.1", port: 1, clientID: "porchlight-test")
        settings.keepalive = 30
        let error = await #expect(throws: MQTTError.self) {
            _ = try await MQTTClient.probe(settings, timeout: .seconds(20))
        }
        #expect(error?.description.contains("127.0.0.1:1") == true, "\(String(describing: error))")
    }
}

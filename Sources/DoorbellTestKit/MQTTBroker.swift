import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

public struct SetupFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Debian's mosquitto on loopback, started by the test: a plain listener and a TLS one, both
/// behind a password file. The TLS listener's certificate, made with the openssl tool, is for
/// `localhost` (not 127.0.0.1) and signed by `caFile`.
public final class MQTTBroker: Sendable {
    public let port: Int
    public let tlsPort: Int
    public let directory: TemporaryDirectory
    public static let user = "doorbell"
    public static let password = "a long broker password"
    private let process = Mutex<Process?>(nil)

    public var caFile: String { directory.path + "/ca.pem" }
    /// The broker's own certificate (what `mqtt.pinned_certificate` names).
    public var certificateFile: String { directory.path + "/server.pem" }
    /// A self-signed certificate that is not the broker's.
    public var otherCertificateFile: String { directory.path + "/other.pem" }
    public var configFile: String { directory.path + "/mosquitto.conf" }

    /// `persistent`: the broker keeps sessions across a clean restart (`stop(graceful: true)`),
    /// so that a subscriber with a session of its own misses nothing while it is down.
    public init(persistent: Bool = false) async throws {
        directory = try TemporaryDirectory()
        port = try freePort()
        var other = try freePort()
        while other == port { other = try freePort() }
        tlsPort = other
        let passwords = directory.path + "/passwords"
        try await Self.run("/usr/bin/mosquitto_passwd", ["-b", "-c", passwords, Self.user, Self.password])
        try await makeCertificates()
        _ = try directory.write(
            "mosquitto.conf",
            """
            per_listener_settings false
            allow_anonymous false
            password_file \(passwords)
            \(persistent ? "persistence true\npersistence_location \(directory.path)/" : "persistence false")
            listener \(port) 127.0.0.1
            listener \(tlsPort) 127.0.0.1
            cafile \(caFile)
            certfile \(certificateFile)
            keyfile \(directory.path)/server.key

            """
                // Started as root it would become the mosquitto user, who cannot read this directory.
                + (getuid() == 0 ? "user root\n" : ""))
        try await start()
    }

    /// Starts (again) on the same ports, and waits until it accepts connections.
    public func start() async throws {
        let broker = Process()
        // Through exec from Python with SIGTERM unblocked and at its default: a child inherits
        // the test process's signal mask, in which SIGTERM is blocked, and mosquitto would never
        // see a graceful stop (the same process id, so `stop` signals mosquitto itself).
        broker.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        broker.arguments = [
            "-c",
            "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); "
                + "signal.signal(signal.SIGTERM, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])",
            "/usr/sbin/mosquitto", "-c", configFile,
        ]
        broker.standardOutput = FileHandle.nullDevice
        broker.standardError = FileHandle.nullDevice
        try broker.run()
        process.withLock { $0 = broker }
        let up = await eventually(timeout: .seconds(30)) { acceptsTCP(self.port) && acceptsTCP(self.tlsPort) }
        guard up else { throw SetupFailure("mosquitto did not listen on \(port) and \(tlsPort)") }
    }

    /// SIGKILL: the broker goes away with no goodbye; `graceful`, SIGTERM: it saves its sessions.
    public func stop(graceful: Bool = false) async {
        guard let broker = process.withLock({ $0 }) else { return }
        kill(broker.processIdentifier, graceful ? SIGTERM : SIGKILL)
        _ = await eventually(timeout: .seconds(10)) { !broker.isRunning }
    }

    deinit {
        if let broker = process.withLock({ $0 }), broker.isRunning { kill(broker.processIdentifier, SIGKILL) }
    }

    private func makeCertificates() async throws {
        let d = directory.path
        try await Self.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=Porchlight test CA", "-keyout", "\(d)/ca.key", "-out", "\(d)/ca.pem",
            ])
        // A name and no address: connecting to 127.0.0.1 is a name mismatch.
        _ = try directory.write("san.cnf", "subjectAltName=DNS:localhost\n")
        try await Self.run(
            "/usr/bin/openssl",
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
                "-keyout", "\(d)/server.key", "-out", "\(d)/server.csr",
            ])
        try await Self.run(
            "/usr/bin/openssl",
            [
                "x509", "-req", "-in", "\(d)/server.csr", "-CA", "\(d)/ca.pem", "-CAkey", "\(d)/ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "\(d)/san.cnf", "-out", "\(d)/server.pem",
            ])
        // Another certificate altogether, for a pin that is not the broker's.
        try await Self.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=localhost", "-keyout", "\(d)/other.key", "-out", "\(d)/other.pem",
            ])
    }

    static func run(_ tool: String, _ arguments: [String]) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        _ = await eventually(timeout: .seconds(30)) { !process.isRunning }
        guard !process.isRunning, process.terminationStatus == 0 else {
            throw SetupFailure("\(tool) \(arguments.prefix(2).joined(separator: " ")) failed")
        }
    }
}

/// Whether something accepts a TCP connection on 127.0.0.1:`port`.
public func acceptsTCP(_ port: Int) -> Bool {
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

/// An MQTT client independent of the code under test: PyPI's paho-mqtt
/// (`Tests/MQTTTests/Scripts/subscriber.py`), subscribed to `topics`. Every message it gets is a
/// JSON line, read here; `publish` sends one through it.
public final class MQTTSubscriber: Sendable {
    private let process = Process()
    private let input = Pipe()
    private let lines = Mutex<[String]>([])

    /// `session`: a client id with a session the broker keeps (clean session off), so messages
    /// published while this client is away reach it when it reconnects (paho reconnects itself).
    public init(broker: MQTTBroker, topics: [String], tls: Bool = false, session: String? = nil) async throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var arguments = [
            "python3", repositoryRoot + "/Tests/MQTTTests/Scripts/subscriber.py", "--port",
            String(tls ? broker.tlsPort : broker.port), "--username", MQTTBroker.user, "--password",
            MQTTBroker.password,
        ]
        if tls { arguments += ["--cafile", broker.caFile, "--host", "localhost"] }
        if let session { arguments += ["--session", session] }
        process.arguments = arguments + topics
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = input
        process.standardError = FileHandle.nullDevice
        try process.run()
        let reader = LineReader(output.fileHandleForReading)
        Thread.detachNewThread { [self] in
            while let line = reader.next() { self.lines.withLock { $0.append(line) } }
        }
        let ready = await eventually(timeout: .seconds(30)) {
            self.lines.withLock { $0.contains { $0.contains("\"ready\"") } }
        }
        guard ready else {
            throw SetupFailure("the paho subscriber did not start (pip install paho-mqtt, .ci/install)")
        }
    }

    /// Each message so far: `topic`, `payload` (UTF-8, or "" for binary), `size`, `retain`,
    /// `jpeg` (starts with FF D8), `at` (CLOCK_MONOTONIC seconds when received).
    public func messages(_ topic: String? = nil) -> [[String: Any]] {
        lines.withLock { $0 }.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }.filter { $0["topic"] != nil && (topic == nil || $0["topic"] as? String == topic) }
    }

    /// Payloads on `topic`, in order.
    public func payloads(_ topic: String) -> [String] { messages(topic).compactMap { $0["payload"] as? String } }

    public func publish(_ topic: String, _ payload: String, retain: Bool = false) throws {
        let line = try JSONSerialization.data(withJSONObject: ["topic": topic, "payload": payload, "retain": retain])
        input.fileHandleForWriting.write(line + Data("\n".utf8))
    }

    public func stop() async {
        kill(process.processIdentifier, SIGKILL)
        _ = await eventually(timeout: .seconds(10)) { !process.isRunning }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

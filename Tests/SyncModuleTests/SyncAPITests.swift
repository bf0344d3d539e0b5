import AsyncHTTPClient
import DoorbellTestKit
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import ServiceLifecycle
import SyncModule
import SyncProtocol
import Synchronization
import Testing

/// A real sync module on loopback over TLS, and a client that pins its certificate.
struct LiveSyncModule {
    let directory: TemporaryDirectory
    let store: SQLiteSyncStore
    let identity: ServerIdentity
    let client: HTTPClient
    let port: Int

    static func run(_ body: (LiveSyncModule) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
        let identity = try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
        var logger = Logger(label: "sync-test")
        logger.logLevel = .critical
        let port = Mutex(0)
        let app = try SyncServer.application(
            api: SyncAPI(store: store, logger: logger), identity: identity, host: "127.0.0.1", port: 0, logger: logger
        ) { bound in port.withLock { $0 = bound } }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(identity.certificatePEM.utf8), format: .pem)]
        )
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        let group = ServiceGroup(services: [app], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await eventually(timeout: .seconds(60)) { port.withLock { $0 } != 0 })
            let module = LiveSyncModule(
                directory: directory, store: store, identity: identity, client: client, port: port.withLock { $0 })
            do {
                try await body(module)
            } catch {
                try? await client.shutdown()
                await group.triggerGracefulShutdown()
                throw error
            }
            try await client.shutdown()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Sends a request; returns the status and the body's JSON object.
    func send(_ method: HTTPMethod, _ path: String, body: Data = Data(), headers: [String: String] = [:]) async throws
        -> (status: Int, json: [String: Any])
    {
        var request = HTTPClientRequest(url: "https://localhost:\(port)\(path)")
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .seconds(10))
        var buffer = try await response.body.collect(upTo: 1 << 20)
        let data = buffer.readData(length: buffer.readableBytes) ?? Data()
        return (Int(response.status.code), (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
    }

    func pair(_ identity: DeviceIdentity, code: String) async throws -> (status: Int, json: [String: Any]) {
        let body = try JSONSerialization.data(withJSONObject: [
            "code": code, "publicKey": identity.publicKey.base64EncodedString(), "name": "Front door",
        ])
        return try await send(.POST, "/v1/pair", body: body)
    }

    func postEvents(_ events: [WireEvent], as identity: DeviceIdentity) async throws -> (
        status: Int, json: [String: Any]
    ) {
        let body = try JSONEncoder().encode(["events": events])
        let headers = try identity.sign(method: "POST", path: "/v1/events", body: body, now: SyncAPI.unixMilliseconds())
        return try await send(.POST, "/v1/events", body: body, headers: headers)
    }
}

@Suite("Sync module API over TLS on loopback")
struct SyncAPITests {
    @Test("pairing with a valid code, then signed events stored once each, in order")
    func pairAndIngest() async throws {
        try await LiveSyncModule.run { module in
            let device = try DeviceIdentity()
            try module.store.addPairingCode("7KQ4-MX2P", expiresAt: SyncAPI.unixMilliseconds() + 600_000)
            #expect(try await module.pair(device, code: "WRONG-CODE").status == 403)
            let paired = try await module.pair(device, code: "7KQ4-MX2P")
            #expect(paired.status == 201)
            #expect(paired.json["deviceID"] as? String == device.deviceID)
            #expect(try await module.pair(device, code: "7KQ4-MX2P").status == 403)

            let events = (0..<20).map { wire($0) }
            let first = try await module.postEvents(events, as: device)
            #expect(first.status == 200)
            #expect(first.json["accepted"] as? [String] == events.map(\.key))
            let again = try await module.postEvents(Array(events[10...]), as: device)
            #expect(again.status == 200)
            #expect(try module.store.events(after: 0, limit: 100).map(\.event) == events)
            #expect(try await module.send(.GET, "/v1/health").status == 200)
        }
    }

    @Test("bad requests are refused with a reason, nothing is stored, and the server keeps serving")
    func badRequests() async throws {
        try await LiveSyncModule.run { module in
            let device = try DeviceIdentity()
            try module.store.addPairingCode("AAAA-BBBB", expiresAt: SyncAPI.unixMilliseconds() + 600_000)
            #expect(try await module.pair(device, code: "AAAA-BBBB").status == 201)
            let body = try JSONEncoder().encode(["events": [wire(1)]])
            let now = SyncAPI.unixMilliseconds()

            let unauthenticated = try await module.send(.POST, "/v1/events", body: body)
            #expect(unauthenticated.status == 401)
            #expect((unauthenticated.json["error"] as? String)?.contains("missing header") == true)

            let stranger = try DeviceIdentity()
            let unknown = try await module.send(
                .POST, "/v1/events", body: body,
                headers: try stranger.sign(method: "POST", path: "/v1/events", body: body, now: now))
            #expect(unknown.status == 401)

            var forged = try device.sign(method: "POST", path: "/v1/events", body: body, now: now)
            forged[SignedHeader.signature] = try stranger.sign(
                method: "POST", path: "/v1/events", body: body, now: now)[
                    SignedHeader.signature]
            #expect(try await module.send(.POST, "/v1/events", body: body, headers: forged).status == 401)

            let tampered = try device.sign(method: "POST", path: "/v1/events", body: body, now: now)
            let otherBody = try JSONEncoder().encode(["events": [wire(2)]])
            let wrongHash = try await module.send(.POST, "/v1/events", body: otherBody, headers: tampered)
            #expect(wrongHash.status == 401)
            #expect((wrongHash.json["error"] as? String)?.contains("Content-SHA256") == true)

            let malformed = Data("{\"events\": [{\"kind\": 3}]".utf8)
            let malformedResponse = try await module.send(
                .POST, "/v1/events", body: malformed,
                headers: try device.sign(method: "POST", path: "/v1/events", body: malformed, now: now))
            #expect(malformedResponse.status == 400)

            let tooMany = try JSONEncoder().encode(["events": (0..<101).map { wire($0) }])
            #expect(
                try await module.send(
                    .POST, "/v1/events", body: tooMany,
                    headers: try device.sign(method: "POST", path: "/v1/events", body: tooMany, now: now)
                ).status == 413)
            let huge = Data(repeating: 0x20, count: (1 << 20) + 10)
            #expect(
                try await module.send(
                    .POST, "/v1/events", body: huge,
                    headers: try device.sign(method: "POST", path: "/v1/events", body: huge, now: now)
                ).status == 413)

            #expect(try module.store.events(after: 0, limit: 100).isEmpty)

            let good = try device.sign(method: "POST", path: "/v1/events", body: body, now: now)
            #expect(try await module.send(.POST, "/v1/events", body: body, headers: good).status == 200)
            let replay = try await module.send(.POST, "/v1/events", body: body, headers: good)
            #expect(replay.status == 401)
            #expect((replay.json["error"] as? String)?.contains("replayed") == true)
            #expect(try module.store.events(after: 0, limit: 100).count == 1)

            try module.store.revoke(device.deviceID, now: now)
            #expect(try await module.postEvents([wire(3)], as: device).status == 403)
        }
    }

    @Test("the server certificate is made once, kept with a private key only its owner can read")
    func serverIdentity() throws {
        let directory = try TemporaryDirectory()
        let first = try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
        let second = try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
        #expect(first.fingerprint == second.fingerprint)
        #expect(first.fingerprint.split(separator: ":").count == 32)
        let attributes = try FileManager.default.attributesOfItem(atPath: directory.path + "/server.key")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }
}

import AsyncHTTPClient
import DoorbellTestKit
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Privacy
import ServiceLifecycle
import SyncModule
import SyncStorage
import SyncProtocol
import Synchronization
import Testing
import DoorbellCore

/// A real sync module on loopback over TLS, and a client that pins its certificate.
struct LiveSyncModule {
    let directory: TemporaryDirectory
    let store: SQLiteSyncStore
    let identity: ServerIdentity
    let client: HTTPClient
    let port: Int
    let media: MediaFiles

    static let metricsToken = "test-metrics-token-0123456789"

    static func run(mediaMaxBytes: Int = 0, _ body: (LiveSyncModule) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        let store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
        let media = try MediaFiles(directory: directory.path + "/media", maxBytes: mediaMaxBytes)
        let identity = try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
        var logger = Logger(label: "sync-test")
        logger.logLevel = .critical
        let port = Mutex(0)
        let app = try SyncServer.application(
            api: SyncAPI(store: store, media: media, metricsToken: metricsToken, logger: logger), identity: identity,
            host: "127.0.0.1", port: 0,
            logger: logger
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
                directory: directory, store: store, identity: identity, client: client, port: port.withLock { $0 },
                media: media)
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

    /// Sends a request with `Porchlight-Protocol` (as a doorbell does, unless `version` is nil);
    /// returns the status and the body's JSON object.
    func send(
        _ method: HTTPMethod, _ path: String, body: Data = Data(), headers: [String: String] = [:],
        version: String? = "\(protocolVersion)"
    ) async throws -> (status: Int, json: [String: Any]) {
        var request = HTTPClientRequest(url: "https://localhost:\(port)\(path)")
        request.method = method
        if let version { request.headers.add(name: "Porchlight-Protocol", value: version) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .seconds(10))
        var buffer = try await response.body.collect(upTo: 1 << 20)
        let data = buffer.readData(length: buffer.readableBytes) ?? Data()
        return (Int(response.status.code), (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
    }

    /// A GET whose body is text, with an `Authorization` header if given; returns the status too.
    func text(_ path: String, authorization: String? = nil) async throws -> (status: Int, text: String) {
        var request = HTTPClientRequest(url: "https://localhost:\(port)\(path)")
        request.method = .GET
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let response = try await client.execute(request, timeout: .seconds(10))
        var buffer = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), buffer.readString(length: buffer.readableBytes) ?? "")
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
        let headers = try identity.sign(method: "POST", path: "/v1/events", body: body, now: unixMilliseconds())
        return try await send(.POST, "/v1/events", body: body, headers: headers)
    }

    /// A signed request as the device would send it.
    func signed(_ method: HTTPMethod, _ path: String, body: Data, as identity: DeviceIdentity) async throws -> (
        status: Int, json: [String: Any]
    ) {
        let headers = try identity.sign(
            method: method.rawValue, path: path, body: body, now: unixMilliseconds())
        return try await send(method, path, body: body, headers: headers)
    }

    /// A device paired with this module.
    func pairedDevice() async throws -> DeviceIdentity {
        let device = try DeviceIdentity()
        let code = PairingCode.make()
        try store.addPairingCode(code, expiresAt: unixMilliseconds() + 600_000)
        #expect(try await pair(device, code: code).status == 201)
        return device
    }
}

/// `PUT /v1/media/{id}`'s body.
/// `count` bytes that begin as a sealed item does (the magic and a header length), the rest
/// `filler`: what the sync module checks, since it cannot open an item.
func sealedStandIn(_ count: Int, filler: (Int) -> UInt8 = { UInt8(truncatingIfNeeded: $0 &* 7) }) -> Data {
    var data = Data("PLS1".utf8) + Data([0, 0, 0, 2]) + Data("{}".utf8)
    data.append(contentsOf: (data.count..<count).map(filler))
    return data
}

func announcement(eventID: String, kind: String, of bytes: Data) -> Data {
    Data(
        #"{"eventID":"\#(eventID)","kind":"\#(kind)","size":\#(bytes.count),"sha256":"\#(sha256Hex(bytes))"}"#.utf8)
}

@Suite("Sync module API over TLS on loopback", .timeLimit(.minutes(10)))
struct SyncAPITests {
    @Test("pairing with a valid code, then signed events stored once each, in order")
    func pairAndIngest() async throws {
        try await LiveSyncModule.run { module in
            let device = try DeviceIdentity()
            try module.store.addPairingCode("7KQ4-MX2P", expiresAt: unixMilliseconds() + 600_000)
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
            // The counters tell when the door rings: not for a request without the token.
            for authorization in [
                nil, "Bearer wrong", "Bearer \(LiveSyncModule.metricsToken)x", LiveSyncModule.metricsToken,
            ] {
                let refused = try await module.text("/metrics", authorization: authorization)
                #expect(refused.status == 401, "\(authorization ?? "none")")
                #expect(!refused.text.contains("porchlight_sync_events"))
            }
            // Repeats are not counted.
            let (status, metrics) = try await module.text(
                "/metrics", authorization: "Bearer \(LiveSyncModule.metricsToken)")
            #expect(status == 200)
            #expect(metrics.contains("porchlight_sync_events_received_total{kind=\"ring\"} 20\n"), "\(metrics)")
            #expect(metrics.contains("porchlight_sync_devices_paired 1"))
            #expect(metrics.contains("porchlight_sync_devices_online 0"))
        }
    }

    @Test(
        "the talk key sent at pairing is pinned when the device key signed it, and refused before the code is used otherwise"
    )
    func talkKeyAtPairing() async throws {
        try await LiveSyncModule.run { module in
            let device = try DeviceIdentity()
            let talkKey = OwnerKey().publicKey.x963
            try module.store.addPairingCode("TALK-KEYS", expiresAt: unixMilliseconds() + 600_000)
            let forged = try DeviceIdentity().signature(for: TalkSeal.keyMessage(talkKey))
            for (point, signature) in [(talkKey, forged), (Data(repeating: 4, count: 65), forged)] {
                let body = try PairingExchange.requestBody(
                    code: "TALK-KEYS", publicKey: device.publicKey, name: "Front", talkKey: (point, signature))
                let refused = try await module.send(.POST, "/v1/pair", body: body)
                #expect(refused.status == 400 && (refused.json["error"] as? String)?.contains("talk key") == true)
            }
            #expect(try module.store.device(device.deviceID) == nil)
            let signature = try device.signature(for: TalkSeal.keyMessage(talkKey))
            let body = try PairingExchange.requestBody(
                code: "TALK-KEYS", publicKey: device.publicKey, name: "Front", talkKey: (talkKey, signature))
            #expect(try await module.send(.POST, "/v1/pair", body: body).status == 201)
            #expect(try module.store.talkKey(of: device.deviceID) == talkKey)
            // Pinned: another key from the doorbell later changes nothing.
            #expect(try module.store.pinTalkKey(OwnerKey().publicKey.x963, for: device.deviceID) == talkKey)
        }
    }

    @Test("bad requests are refused with a reason, nothing is stored, and the server keeps serving")
    func badRequests() async throws {
        try await LiveSyncModule.run { module in
            let device = try DeviceIdentity()
            try module.store.addPairingCode("AAAA-BBBB", expiresAt: unixMilliseconds() + 600_000)
            #expect(try await module.pair(device, code: "AAAA-BBBB").status == 201)
            let body = try JSONEncoder().encode(["events": [wire(1)]])
            let now = unixMilliseconds()

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

    @Test("numbers a peer sends cannot trap the server: each is refused with a 4xx naming it, nothing is stored")
    func hostileNumbers() async throws {
        try await LiveSyncModule.run { module in
            let device = try await module.pairedDevice()
            // The issue's request: a paired device's id (not secret) and the lowest Int64 as its time.
            let overflow = try await module.send(
                .POST, "/v1/events", body: Data("{}".utf8),
                headers: [
                    SignedHeader.device: device.deviceID, SignedHeader.timestamp: "-9223372036854775808",
                    SignedHeader.nonce: "AA", SignedHeader.contentSHA256: "00", SignedHeader.signature: "AA==",
                ])
            #expect(overflow.status == 401)
            #expect((overflow.json["error"] as? String)?.contains(SignedHeader.timestamp) == true)

            // Signed, but with wall times and counts that would overflow where the page shows them.
            var early = wire(1)
            early.wallMilliseconds = .min
            var many = wire(2)
            many.pressCount = .min
            for event in [early, many] {
                let refused = try await module.postEvents([wire(3), event], as: device)
                #expect(refused.status == 400)
                #expect((refused.json["error"] as? String)?.hasPrefix("events[1]: ") == true)
            }

            let eventID = EventID.make(epochMilliseconds: unixMilliseconds()).rawValue
            let path = "/v1/media/\(eventID)-clip"
            let bytes = Data(repeating: 7, count: 1000)
            #expect(
                try await module.signed(
                    .PUT, path, body: announcement(eventID: eventID, kind: "clip", of: bytes), as: device
                ).status == 200)
            for offset in ["\(Int.max)", "-1", "\(Int.min)", "99999999999999999999", "1e3"] {
                let refused = try await module.signed(.PATCH, path + "?offset=\(offset)", body: bytes, as: device)
                #expect(refused.status == 400, "offset \(offset)")
                #expect((refused.json["error"] as? String)?.hasPrefix("offset") == true)
            }
            let past = try await module.signed(.PATCH, path + "?offset=999", body: bytes, as: device)
            #expect(past.status == 400)
            let huge = Data(
                #"{"eventID":"\#(eventID)","kind":"clip","size":\#(Int.max),"sha256":"\#(sha256Hex(bytes))"}"#.utf8)
            #expect(try await module.signed(.PUT, path + "x", body: huge, as: device).status == 400)

            #expect(try module.store.events(after: 0, limit: 100).isEmpty)
            let announced = try await module.signed(
                .PUT, path, body: announcement(eventID: eventID, kind: "clip", of: bytes), as: device)
            #expect(announced.json["received"] as? Int == 0)
            #expect(try await module.send(.GET, "/v1/health").status == 200)
        }
    }

    @Test("a signed route reads no body from a stranger, and each route has its own body limit")
    func bodyLimits() async throws {
        try await LiveSyncModule.run { module in
            let device = try await module.pairedDevice()
            let stranger = try DeviceIdentity()
            // A stranger's 3 MiB is refused for who sent it (401), not for its size.
            let big = Data(repeating: 0x20, count: 3 << 20)
            let refused = try await module.signed(.POST, "/v1/events", body: big, as: stranger)
            #expect(refused.status == 401)
            // A media announcement is a few hundred bytes; 8 KiB is refused even from a paired doorbell.
            let eventID = EventID.make(epochMilliseconds: unixMilliseconds()).rawValue
            let padded = Data(repeating: 0x20, count: 8 << 10)
            #expect(try await module.signed(.PUT, "/v1/media/\(eventID)-clip", body: padded, as: device).status == 413)
            #expect(try await module.signed(.GET, "/v1/access-log", body: Data("x".utf8), as: device).status == 413)
        }
    }

    @Test("a device request without Porchlight-Protocol 1 is answered 426 with the versions spoken, and stores nothing")
    func protocolVersion() async throws {
        try await LiveSyncModule.run { module in
            let device = try await module.pairedDevice()
            let body = try JSONEncoder().encode(["events": [wire(1)]])
            for version in [nil, "2", "0", "1, 2"] as [String?] {
                let headers = try device.sign(
                    method: "POST", path: "/v1/events", body: body, now: unixMilliseconds())
                let answer = try await module.send(.POST, "/v1/events", body: body, headers: headers, version: version)
                #expect(answer.status == 426, "\(version ?? "none")")
                #expect(answer.json["versions"] as? [Int] == [1])
                #expect((answer.json["error"] as? String)?.isEmpty == false)
            }
            let code = PairingCode.make()
            try module.store.addPairingCode(code, expiresAt: unixMilliseconds() + 600_000)
            let pairBody = try JSONSerialization.data(withJSONObject: [
                "code": code, "publicKey": try DeviceIdentity().publicKey.base64EncodedString(), "name": "Side door",
            ])
            #expect(try await module.send(.POST, "/v1/pair", body: pairBody, version: "2").status == 426)
            #expect(try module.store.devices().count == 1)
            #expect(try module.store.events(after: 0, limit: 100).isEmpty)
            // Health and the certificate answer any client: monitoring and pairing's first step.
            #expect(try await module.send(.GET, "/v1/health", version: nil).status == 200)
        }
    }

    @Test("media arrive in chunks, resume at what the server holds, and are kept only when the hash matches")
    func mediaUpload() async throws {
        try await LiveSyncModule.run { module in
            let device = try await module.pairedDevice()
            let eventID = EventID.make(epochMilliseconds: unixMilliseconds()).rawValue
            let clip = sealedStandIn(300_000)
            let path = "/v1/media/\(eventID)-clip"
            let announce = announcement(eventID: eventID, kind: "clip", of: clip)

            let started = try await module.signed(.PUT, path, body: announce, as: device)
            #expect(started.status == 200)
            #expect(started.json["received"] as? Int == 0)
            let first = try await module.signed(.PATCH, path + "?offset=0", body: clip[0..<100_000], as: device)
            #expect(first.json["received"] as? Int == 100_000)
            // A retried chunk at a stale offset is refused with what the server holds.
            let stale = try await module.signed(.PATCH, path + "?offset=0", body: clip[0..<100_000], as: device)
            #expect(stale.status == 409)
            #expect(stale.json["received"] as? Int == 100_000)
            // Announcing again (a restarted doorbell) tells where to resume.
            #expect(try await module.signed(.PUT, path, body: announce, as: device).json["received"] as? Int == 100_000)
            let unsigned = try await module.send(.PATCH, path + "?offset=100000", body: clip[100_000...])
            #expect(unsigned.status == 401)
            let last = try await module.signed(.PATCH, path + "?offset=100000", body: clip[100_000...], as: device)
            #expect(last.status == 201)
            #expect(last.json["complete"] as? Bool == true)
            let record = try #require(try module.store.media("\(eventID)-clip", from: device.deviceID))
            #expect(record.completedAt != nil)
            #expect(FileManager.default.contents(atPath: module.media.path(record)) == clip)
            #expect(try module.store.media(forEvent: eventID).count == 1)
            let again = try await module.signed(.PUT, path, body: announce, as: device)
            #expect(again.json["complete"] as? Bool == true)

            // A file whose bytes do not match the announced hash is discarded.
            let snapshotPath = "/v1/media/\(eventID)-snapshot"
            let snapshot = sealedStandIn(5000) { _ in 0xFF }
            #expect(
                try await module.signed(
                    .PUT, snapshotPath, body: announcement(eventID: eventID, kind: "snapshot", of: snapshot), as: device
                ).status == 200)
            var corrupted = snapshot
            corrupted[10] = 0
            let mismatch = try await module.signed(.PATCH, snapshotPath + "?offset=0", body: corrupted, as: device)
            #expect(mismatch.status == 422)
            #expect(try module.store.media("\(eventID)-snapshot", from: device.deviceID) == nil)
            #expect(
                !FileManager.default.fileExists(
                    atPath: module.directory.path + "/media/\(device.deviceID)/\(eventID)-snapshot.part"))

            // A picture in the clear is refused outright and nothing of it is kept.
            let plainPath = "/v1/media/\(eventID)-snapshot"
            let jpeg = Data([0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 7, count: 996))
            #expect(
                try await module.signed(
                    .PUT, plainPath, body: announcement(eventID: eventID, kind: "snapshot", of: jpeg), as: device
                ).status == 200)
            let plain = try await module.signed(.PATCH, plainPath + "?offset=0", body: jpeg, as: device)
            #expect(plain.status == 415)
            #expect(try module.store.media("\(eventID)-snapshot", from: device.deviceID) == nil)
            #expect(
                !FileManager.default.fileExists(
                    atPath: module.directory.path + "/media/\(device.deviceID)/\(eventID)-snapshot.part"))

            // Malformed announcements.
            for (badPath, body) in [
                ("/v1/media/../../etc-clip", announce), ("/v1/media/\(eventID)-movie", announce),
                (snapshotPath, Data("{}".utf8)), (path.replacingOccurrences(of: eventID, with: "other"), announce),
            ] {
                #expect(try await module.signed(.PUT, badPath, body: body, as: device).status >= 400)
            }
            #expect(try await module.send(.GET, "/v1/health").status == 200)
        }
    }

    @Test(
        "an upload that arrived whole but was never finished (a stop between its last chunk and the hash check) is finished when announced again, or discarded if its hash is wrong"
    )
    func wholeButUnfinished() async throws {
        try await LiveSyncModule.run { module in
            let device = try await module.pairedDevice()
            let eventID = EventID.make(epochMilliseconds: unixMilliseconds()).rawValue
            let folder = module.directory.path + "/media/\(device.deviceID)"
            for (kind, bytes, corrupt) in [
                ("clip", sealedStandIn(30_000), false), ("snapshot", sealedStandIn(3000), true),
            ] {
                let path = "/v1/media/\(eventID)-\(kind)"
                let announce = announcement(eventID: eventID, kind: kind, of: bytes)
                #expect(try await module.signed(.PUT, path, body: announce, as: device).json["received"] as? Int == 0)
                // What the last chunk's fsync left behind when the process stopped before finishing.
                var partial = bytes
                if corrupt { partial[20] ^= 0xFF }
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                #expect(FileManager.default.createFile(atPath: "\(folder)/\(eventID)-\(kind).part", contents: partial))
                let again = try await module.signed(.PUT, path, body: announce, as: device)
                let record = try module.store.media("\(eventID)-\(kind)", from: device.deviceID)
                if corrupt {
                    #expect(again.status == 422)
                    #expect(record == nil)
                    // Announced once more, it starts from nothing.
                    #expect(
                        try await module.signed(.PUT, path, body: announce, as: device).json["received"] as? Int == 0)
                } else {
                    #expect(again.status == 201)
                    #expect(again.json["complete"] as? Bool == true)
                    #expect(record?.completedAt != nil)
                    #expect(try FileManager.default.contents(atPath: module.media.path(#require(record))) == bytes)
                }
                #expect(!FileManager.default.fileExists(atPath: "\(folder)/\(eventID)-\(kind).part"))
            }
        }
    }

    @Test("past its media limit the sync module answers 507 and stores nothing more")
    func mediaLimit() async throws {
        try await LiveSyncModule.run(mediaMaxBytes: 50_000) { module in
            let device = try await module.pairedDevice()
            let eventID = EventID.make(epochMilliseconds: unixMilliseconds()).rawValue
            let clip = sealedStandIn(80_000) { _ in 1 }
            let path = "/v1/media/\(eventID)-clip"
            _ = try await module.signed(
                .PUT, path, body: announcement(eventID: eventID, kind: "clip", of: clip), as: device)
            #expect(
                try await module.signed(.PATCH, path + "?offset=0", body: clip[0..<40_000], as: device).status == 200)
            let full = try await module.signed(.PATCH, path + "?offset=40000", body: clip[40_000...], as: device)
            #expect(full.status == 507)
            #expect(module.media.usedBytes == 40_000)
        }
    }

    @Test("more than five wrong pairing codes a minute from one address are answered 429")
    func pairingRateLimit() async throws {
        try await LiveSyncModule.run { module in
            let device = try DeviceIdentity()
            try module.store.addPairingCode("GOOD-CODE", expiresAt: unixMilliseconds() + 600_000)
            for attempt in 0..<5 { #expect(try await module.pair(device, code: "BAD\(attempt)-CODE").status == 403) }
            let limited = try await module.pair(device, code: "GOOD-CODE")
            #expect(limited.status == 429)
            #expect((limited.json["error"] as? String)?.contains("wait") == true)
            #expect(try module.store.devices().isEmpty)
        }
    }

    @Test("the server certificate is made once, kept with a private key only its owner can read")
    func serverIdentity() throws {
        let directory = try TemporaryDirectory()
        let first = try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
        let second = try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
        #expect(first.fingerprint == second.fingerprint)
        #expect(first.fingerprint.split(separator: ":").count == 32)
        // What the doorbell computes from the certificate reply, before it trusts anything.
        let reply = try JSONEncoder().encode(["certificate": first.certificatePEM])
        #expect(try PairingExchange.certificate(fromReply: reply).fingerprint == first.fingerprint)
        let attributes = try FileManager.default.attributesOfItem(atPath: directory.path + "/server.key")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    @Test("an identity file that is missing, corrupt or unreadable stops the start; no new identity replaces it")
    func serverIdentityFailsClosed() throws {
        let directory = try TemporaryDirectory()
        let first = try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
        let certificate = directory.path + "/server.crt", key = directory.path + "/server.key"
        let keptKey = try Data(contentsOf: URL(fileURLWithPath: key))

        // The certificate gone: the key is kept and nothing new is made.
        try FileManager.default.moveItem(atPath: certificate, toPath: certificate + ".away")
        #expect(throws: ServerIdentityError.incomplete(missing: certificate)) {
            try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
        }
        #expect(!FileManager.default.fileExists(atPath: certificate))
        #expect(try Data(contentsOf: URL(fileURLWithPath: key)) == keptKey)
        try FileManager.default.moveItem(atPath: certificate + ".away", toPath: certificate)

        // Corrupt, then unreadable (a directory where the file was: root reads any file mode).
        try Data("-----BEGIN CERTIFICATE-----\ngarbage\n".utf8).write(to: URL(fileURLWithPath: key))
        #expect(throws: ServerIdentityError.self) {
            try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
        }
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.createDirectory(atPath: key, withIntermediateDirectories: false)
        #expect(throws: ServerIdentityError.self) {
            try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
        }
        try FileManager.default.removeItem(atPath: key)
        // Another identity's key beside this certificate.
        let other = try TemporaryDirectory()
        _ = try ServerIdentity.loadOrCreate(directory: other.path, hostnames: ["localhost"])
        try FileManager.default.copyItem(atPath: other.path + "/server.key", toPath: key)
        #expect(throws: ServerIdentityError.self) {
            try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
        }
        try FileManager.default.removeItem(atPath: key)
        try keptKey.write(to: URL(fileURLWithPath: key))
        #expect(
            try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"]).fingerprint
                == first.fingerprint)
    }
}

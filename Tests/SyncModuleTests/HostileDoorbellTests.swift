import DoorbellCore
import DoorbellTestKit
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOSSL
import Privacy
import ServiceLifecycle
import SyncModule
import SyncStorage
import SyncProtocol
import Synchronization
import Testing

@testable import Uplink

/// A paired doorbell is trusted with its own commands only: what one doorbell sends on its
/// control channel cannot answer, or stand in for, another's.
@Suite("A hostile doorbell on the control channel", .serialized, .timeLimit(.minutes(10)))
struct HostileDoorbellTests {
    /// Opens a control channel signed as `identity` (retrying while the server starts) and runs
    /// `body` on it until it returns.
    static func channel(
        port: Int, certificatePEM: String, as identity: DeviceIdentity,
        _ body: @escaping @Sendable (WebSocketInboundStream, WebSocketOutboundWriter) async throws -> Void
    ) async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem)])
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            var signed: HTTPFields = [HTTPField.Name("Porchlight-Protocol")!: "\(protocolVersion)"]
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for (name, value) in try identity.sign(method: "GET", path: controlPath, body: Data(), now: now) {
                if let field = HTTPField.Name(name) { signed[field] = value }
            }
            do {
                _ = try await WebSocketClient.connect(
                    url: "wss://localhost:\(port)\(controlPath)",
                    configuration: .init(additionalHeaders: signed, closeTimeout: .seconds(1)), tlsConfiguration: tls,
                    logger: Logger(label: "hostile")
                ) { inbound, outbound, _ in try await body(inbound, outbound) }
                return
            } catch  where ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    @Test("a result from another doorbell does not answer a command")
    func foreignResult() async throws {
        let rig = try UplinkEndToEndTests.Rig()
        let other = try DeviceIdentity()
        try rig.store.addPairingCode("SIDE-CODE", expiresAt: unixMilliseconds() + 60_000)
        _ = try rig.store.pair(
            code: "SIDE-CODE", publicKey: other.publicKey, name: "Side", now: unixMilliseconds())
        let (stop, _, hub) = try rig.syncModuleWithHub()
        let victim = rig.device.deviceID
        let done = Flag()
        let (port, pem, device) = (rig.port, rig.identity.certificatePEM, rig.device)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            // The victim doorbell: connected, never answering. Each channel closes once the
            // command has had its answer.
            tasks.addTask {
                try await Self.channel(port: port, certificatePEM: pem, as: device) { _, _ in
                    while !done.value.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(10)) }
                }
            }
            // The hostile doorbell answers the victim's command as soon as it is sent.
            tasks.addTask {
                try await Self.channel(port: port, certificatePEM: pem, as: other) { _, outbound in
                    while !done.value.load(ordering: .relaxed) {
                        try await outbound.write(.text(#"{"type":"result","id":"victim-1","ok":true}"#))
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }
            }
            #expect(await eventually(timeout: .seconds(30)) { hub.connected == Set([victim, other.deviceID]) })
            let answer = await hub.send(ControlCommand(.reloadConfig, id: "victim-1"), to: victim, timeout: .seconds(1))
            done.value.store(true, ordering: .relaxed)
            #expect(answer.ok == false)
            #expect(answer.reason == "the doorbell did not answer in time")
        }
        await stop()
    }

    @Test("no audio or picture crosses the hub in the clear, whatever a doorbell sends")
    func nothingInTheClear() async throws {
        let rig = try UplinkEndToEndTests.Rig()
        let (stop, _, hub) = try rig.syncModuleWithHub()
        let (port, pem, device) = (rig.port, rig.identity.certificatePEM, rig.device)
        let header = try MediaSealer(media: "talk-session-1", kind: "talk", recipients: [OwnerKey().publicKey]).header
        let done = Flag()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            // A faulty doorbell: it answers talk-start, then sends plain audio and a plain picture
            // before a frame of the sealed size and a sealed item.
            tasks.addTask {
                try await Self.channel(port: port, certificatePEM: pem, as: device) { inbound, outbound in
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .text(let text) = message,
                            case .command(let command) = try? JSONDecoder().decode(
                                ControlMessage.self, from: Data(text.utf8)),
                            command.name == .talkStart
                        else { continue }
                        let result = ControlResult(id: command.id, ok: true, header: Data(header).base64EncodedString())
                        try await outbound.write(
                            .text(
                                String(decoding: try JSONEncoder().encode(ControlMessage.result(result)), as: UTF8.self)
                            ))
                        let plainAudio = TalkFrame(sequence: 0, samples: [Int16](repeating: 999, count: 320)).bytes
                        let jpeg: [UInt8] = [0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9]
                        for (stream, bytes) in [
                            (ControlStream.talkAudio, plainAudio), (.liveFrame, jpeg),
                            (.talkAudio, [UInt8](repeating: 7, count: TalkSeal.frameSize)), (.liveFrame, header),
                        ] {
                            var buffer = ByteBuffer()
                            buffer.writeInteger(stream.rawValue)
                            buffer.writeBytes(bytes)
                            try await outbound.write(.binary(buffer))
                        }
                    }
                    while !done.value.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(10)) }
                }
            }
            #expect(await eventually(timeout: .seconds(30)) { hub.connected.contains(device.deviceID) })
            var pictures = hub.frames(from: device.deviceID).makeAsyncIterator()
            let talk = try await hub.beginTalk(
                device: device.deviceID, session: "session-1", signed: "{}", signature: ""
            ).get()
            var audio = talk.door.makeAsyncIterator()
            #expect(await audio.next()?.count == TalkSeal.frameSize)
            #expect(SealedMedia.beginsSealed(try #require(await pictures.next())))
            done.value.store(true, ordering: .relaxed)
            hub.endTalk(device: device.deviceID, session: "session-1", tellDoorbell: false)
            await stop()
        }
    }

    @Test("a revocation written by another process ends the device's channel and live viewers at once")
    func revocation() async throws {
        let rig = try UplinkEndToEndTests.Rig()
        let api = SyncAPI(store: rig.store, logger: rig.logger)
        let app = try SyncServer.application(
            api: api, identity: rig.identity, host: "127.0.0.1", port: rig.port, logger: rig.logger)
        let watch = PeriodicService(every: .milliseconds(500)) { api.enforceRevocations() }
        let server = ServiceGroup(services: [app, watch], logger: rig.logger)
        let hub = api.control
        let device = rig.device
        let (port, pem) = (rig.port, rig.identity.certificatePEM)
        let closed = Flag()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await server.run() }
            // The doorbell reads until the sync module closes its channel.
            tasks.addTask {
                try await Self.channel(port: port, certificatePEM: pem, as: device) { inbound, _ in
                    for try await _ in inbound.messages(maxSize: 1 << 20) {}
                    closed.value.store(true, ordering: .relaxed)
                }
            }
            #expect(await eventually(timeout: .seconds(30)) { hub.connected.contains(device.deviceID) })
            let viewer = Task {
                for await _ in hub.frames(from: device.deviceID) {}
                return true
            }
            // `porchlight-sync revoke` is another process: it writes the database, nothing else.
            let other = try SQLiteSyncStore(path: rig.directory.path + "/sync.sqlite")
            let revoked = ContinuousClock.now
            try other.revoke(device.deviceID, now: unixMilliseconds())
            #expect(await eventually(timeout: .seconds(30)) { !hub.engaged.contains(device.deviceID) })
            print("revocation ended the channel and the viewer \(ContinuousClock.now - revoked) after it was written")
            #expect(await viewer.value)
            #expect(await eventually(timeout: .seconds(30)) { closed.value.load(ordering: .relaxed) })
            #expect(!hub.connected.contains(device.deviceID))
            await server.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("a doorbell closes a channel on which the sync module says nothing, and opens a new one")
    func silentSyncModule() async throws {
        let rig = try UplinkEndToEndTests.Rig()
        // The hub's heartbeat comes every 15 s; a doorbell that allows 1 s of silence hears the
        // keys and the access hello when the channel opens, then nothing, and closes it.
        let channel = rig.controlChannel(
            RemoteCommands(tap: nil, maxLive: .seconds(10), logger: rig.logger) {}, silence: .seconds(1))
        let doorbell = ServiceGroup(services: [channel], logger: rig.logger)
        let (stop, _, hub) = try rig.syncModuleWithHub()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await doorbell.run() }
            #expect(await eventually(timeout: .seconds(30)) { hub.channelsOpened >= 1 })
            #expect(await eventually(timeout: .seconds(30)) { hub.channelsOpened >= 3 })
            await doorbell.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        await stop()
    }

    @Test("a doorbell's text message over 256 KiB closes its channel; the sync module keeps serving")
    func oversizedText() async throws {
        let rig = try UplinkEndToEndTests.Rig()
        let (stop, _, hub) = try rig.syncModuleWithHub()
        let (port, pem, device) = (rig.port, rig.identity.certificatePEM, rig.device)
        let closed = Flag()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                try await Self.channel(port: port, certificatePEM: pem, as: device) { inbound, outbound in
                    let padding = String(repeating: "x", count: 300 << 10)
                    try await outbound.write(.text(#"{"type":"status","id":"","status":"\#(padding)"}"#))
                    for try await _ in inbound.messages(maxSize: 1 << 20) {}
                    closed.value.store(true, ordering: .relaxed)
                }
            }
            #expect(await eventually(timeout: .seconds(30)) { closed.value.load(ordering: .relaxed) })
            #expect(hub.report(of: device.deviceID) == nil)
            try await tasks.waitForAll()
        }
        await stop()
    }
}

final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}

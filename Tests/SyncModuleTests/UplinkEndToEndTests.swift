import DoorbellCore
import DoorbellTestKit
import Foundation
import Logging
import ServiceLifecycle
@testable import SyncModule
@testable import SyncStorage
import SyncProtocol
import Synchronization
import Testing
import Media
import Privacy
import Uplink

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Uplink to a real sync module on loopback", .timeLimit(.minutes(10)))
struct UplinkEndToEndTests {
    @Test("200 rings while the sync module is down are all stored exactly once, in order, after it comes up")
    func syncModuleDown() async throws {
        let directory = try TemporaryDirectory()
        var logger = Logger(label: "e2e")
        logger.logLevel = .critical
        let store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
        let identity = try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
        let device = try DeviceIdentity()
        try store.addPairingCode("E2E2-CODE", expiresAt: unixMilliseconds() + 60_000)
        _ = try store.pair(
            code: "E2E2-CODE", publicKey: device.publicKey, name: "Front", now: unixMilliseconds())
        let port = try freePort()
        let pairing = PairingRecord(
            url: "https://localhost:\(port)", certificatePEM: identity.certificatePEM,
            fingerprint: identity.fingerprint,
            deviceID: device.deviceID)

        let outbox = try Outbox(path: directory.path + "/outbox.sqlite")
        let registry = HealthRegistry()
        let uplink = UplinkService(
            outbox: outbox, pairing: pairing, identity: device,
            health: registry.register("uplink", deadline: .seconds(30)),
            logger: logger, faults: FaultLimiter(interval: .seconds(60)),
            retry: .milliseconds(20) ... .milliseconds(200))
        let daemonSide = ServiceGroup(services: [uplink], logger: logger)

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await daemonSide.run() }
            let rings = (0..<200).map { index -> DoorbellEvent in
                let wall = WallTime(epochMilliseconds: 1_764_000_000_000 + Int64(index), minuteOfDay: 600)
                return .ring(
                    Ring(
                        id: EventID.make(epochMilliseconds: wall.epochMilliseconds), monotonic: .seconds(index),
                        wall: wall,
                        pressCount: 1, chimeSilenced: false))
            }
            for ring in rings { try outbox.append(ring) }
            #expect(
                await eventually(timeout: .seconds(30)) {
                    if case .degraded(let reason) = registry.snapshot().first?.state {
                        reason.contains("unreachable")
                    } else {
                        false
                    }
                })
            try await Task.sleep(for: .milliseconds(300))
            #expect(try store.events(after: 0, limit: 1000).isEmpty)

            // The sync module comes up.
            let app = try SyncServer.application(
                api: SyncAPI(store: store, logger: logger), identity: identity, host: "127.0.0.1", port: port,
                logger: logger)
            let syncSide = ServiceGroup(services: [app], logger: logger)
            tasks.addTask { try await syncSide.run() }
            #expect(await eventually(timeout: .seconds(30)) { (try? outbox.backlog().pending) == 0 })
            let stored = try store.events(after: 0, limit: 1000)
            #expect(stored.count == 200)
            #expect(stored.map(\.event.eventID) == rings.map { $0.id.rawValue })
            #expect(Set(stored.map(\.event.key)).count == 200)
            #expect(registry.snapshot().first?.state == .ok)
            await syncSide.triggerGracefulShutdown()
            await daemonSide.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// A doorbell side (outbox, media store, uplink with small chunks) and a sync module side that
    /// the test starts and stops on one port.
    struct Rig {
        let directory: TemporaryDirectory
        let logger: Logger
        let store: SQLiteSyncStore
        let identity: ServerIdentity
        let device: DeviceIdentity
        let port: Int
        let outbox: Outbox
        let mediaStore: MediaStore
        let registry = HealthRegistry()

        init() throws {
            directory = try TemporaryDirectory()
            var logger = Logger(label: "e2e")
            logger.logLevel = ProcessInfo.processInfo.environment["E2E_LOG"] == nil ? .critical : .debug
            self.logger = logger
            store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
            identity = try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
            device = try DeviceIdentity()
            try store.addPairingCode("RIGG-CODE", expiresAt: unixMilliseconds() + 60_000)
            _ = try store.pair(
                code: "RIGG-CODE", publicKey: device.publicKey, name: "Front", now: unixMilliseconds())
            port = try freePort()
            outbox = try Outbox(path: directory.path + "/outbox.sqlite")
            mediaStore = try MediaStore(directory: directory.path + "/doorbell-media", maxBytes: 1 << 30)
        }

        var pairing: PairingRecord {
            PairingRecord(
                url: "https://localhost:\(port)", certificatePEM: identity.certificatePEM,
                fingerprint: identity.fingerprint, deviceID: device.deviceID)
        }

        func uplink(chunkSize: Int) -> ServiceGroup {
            let service = UplinkService(
                outbox: outbox, media: mediaStore, pairing: pairing, identity: device,
                health: registry.register("uplink", deadline: .seconds(30)), logger: logger,
                faults: FaultLimiter(interval: .seconds(60)), retry: .milliseconds(20) ... .milliseconds(200),
                chunkSize: chunkSize)
            return ServiceGroup(services: [service], logger: logger)
        }

        /// Starts a sync module on the rig's port; `stop` waits until the port is free again.
        func syncModule(mediaMaxBytes: Int = 0) throws -> (stop: @Sendable () async -> Void, media: MediaFiles) {
            let (stop, media, _) = try syncModuleWithHub(mediaMaxBytes: mediaMaxBytes)
            return (stop, media)
        }

        func syncModuleWithHub(mediaMaxBytes: Int = 0, retention: Bool = false) throws -> (
            stop: @Sendable () async -> Void, media: MediaFiles, hub: ControlHub
        ) {
            let media = try MediaFiles(directory: directory.path + "/sync-media", maxBytes: mediaMaxBytes)
            let api = SyncAPI(
                store: store, media: media,
                retention: retention ? MediaRetention(store: store, files: media, days: 30, logger: logger) : nil,
                logger: logger)
            let app = try SyncServer.application(
                api: api, identity: identity, host: "127.0.0.1", port: port, logger: logger)
            let group = ServiceGroup(services: [app], logger: logger)
            let task = Task { try await group.run() }
            return (
                {
                    await group.triggerGracefulShutdown()
                    _ = try? await task.value
                }, media, api.control
            )
        }

        /// The doorbell's control channel to the rig's sync module, with quick retries; signed
        /// with the paired device key unless `identity` says otherwise.
        func controlChannel(
            _ commands: RemoteCommands, identity: DeviceIdentity? = nil,
            silence: Duration = ControlMessage.heartbeatInterval * 3
        ) -> ControlChannelService {
            ControlChannelService(
                pairing: pairing, identity: identity ?? device, commands: commands,
                health: registry.register("control", deadline: .seconds(30)), logger: logger,
                faults: FaultLimiter(interval: .seconds(60)), retry: .milliseconds(50) ... .milliseconds(200),
                silence: silence)
        }

        /// A finished clip of random bytes after a sealed item's first bytes, in the doorbell's media store.
        func clip(bytes: Int) throws -> (MediaItem, String) {
            let id = EventID.make(epochMilliseconds: unixMilliseconds())
            var generator = SystemRandomNumberGenerator()
            let data = sealedStandIn(bytes) { _ in UInt8.random(in: 0...255, using: &generator) }
            try data.write(to: URL(fileURLWithPath: mediaStore.clipPath(id)))
            return (MediaItem(eventID: id, kind: .clip, path: mediaStore.clipPath(id), size: bytes), sha256Hex(data))
        }

        func ring(_ index: Int) -> DoorbellEvent {
            let wall = WallTime(epochMilliseconds: unixMilliseconds() + Int64(index), minuteOfDay: 600)
            return .ring(
                Ring(
                    id: EventID.make(epochMilliseconds: wall.epochMilliseconds), monotonic: .seconds(index), wall: wall,
                    pressCount: 1, chimeSilenced: false))
        }

        func uplinkState() -> HealthState? { registry.snapshot().first?.state }
    }

    @Test("the sync module restarts in the middle of a clip upload; the clip completes and its hash matches")
    func restartMidUpload() async throws {
        let rig = try Rig()
        let (clip, hash) = try rig.clip(bytes: 3 << 20)
        let daemonSide = rig.uplink(chunkSize: 32 << 10)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await daemonSide.run() }
            let (stopFirst, firstMedia) = try rig.syncModule()
            // A bound for a loaded machine: beside two busy loops on two cores this took over 30 s.
            #expect(await eventually(timeout: .seconds(90)) { firstMedia.usedBytes > 256 << 10 })
            await stopFirst()
            #expect(firstMedia.usedBytes < clip.size)

            let (stopSecond, secondMedia) = try rig.syncModule()
            #expect(await eventually(timeout: .seconds(60)) { !FileManager.default.fileExists(atPath: clip.path) })
            let record = try #require(try rig.store.media(clip.id, from: rig.device.deviceID))
            #expect(record.completedAt != nil)
            #expect(try sha256Hex(ofFile: secondMedia.path(record)) == hash)
            #expect(secondMedia.usedBytes == clip.size)
            await stopSecond()
            await daemonSide.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("the sync module's disk is full: events still go, media backs off, nothing is lost once space returns")
    func syncDiskFull() async throws {
        let rig = try Rig()
        let (clip, hash) = try rig.clip(bytes: 1 << 20)
        let daemonSide = rig.uplink(chunkSize: 64 << 10)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await daemonSide.run() }
            let (stopFull, fullMedia) = try rig.syncModule(mediaMaxBytes: 256 << 10)
            // A bound for a loaded machine (over 30 s beside a busy loop in the parallel run).
            #expect(
                await eventually(timeout: .seconds(90)) {
                    if case .degraded(let reason) = rig.uplinkState() { reason.contains("storage full") } else { false }
                })
            #expect(fullMedia.usedBytes <= 256 << 10)
            // Rings while the media waits are delivered: an event never waits for media.
            let rings = (0..<20).map(rig.ring)
            for ring in rings { try rig.outbox.append(ring) }
            #expect(await eventually(timeout: .seconds(30)) { (try? rig.outbox.backlog().pending) == 0 })
            #expect(FileManager.default.fileExists(atPath: clip.path))
            await stopFull()

            // Space returns.
            let (stopRoomy, roomyMedia) = try rig.syncModule(mediaMaxBytes: 16 << 20)
            #expect(await eventually(timeout: .seconds(60)) { !FileManager.default.fileExists(atPath: clip.path) })
            let record = try #require(try rig.store.media(clip.id, from: rig.device.deviceID))
            #expect(try sha256Hex(ofFile: roomyMedia.path(record)) == hash)
            let stored = try rig.store.events(after: 0, limit: 100)
            #expect(stored.map(\.event.eventID) == rings.map { $0.id.rawValue })
            await stopRoomy()
            await daemonSide.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

extension UplinkEndToEndTests {
    @Test("at the sync module's media quota the oldest clips make room for new ones, over the real upload")
    func quotaMakesRoom() async throws {
        let rig = try Rig()
        let clips = try (0..<3).map { _ in try rig.clip(bytes: 1 << 20) }
        let daemonSide = rig.uplink(chunkSize: 256 << 10)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await daemonSide.run() }
            let (stop, media, _) = try rig.syncModuleWithHub(mediaMaxBytes: (5 << 20) / 2, retention: true)
            #expect(
                await eventually(timeout: .seconds(60)) {
                    clips.allSatisfy { !FileManager.default.fileExists(atPath: $0.0.path) }
                }, "not every clip was taken")
            #expect(media.usedBytes <= (5 << 20) / 2)
            let kept = try rig.store.completedMedia(before: nil, limit: 10)
            #expect(kept.count == 2)
            #expect(try rig.store.accessLog(limit: 10).contains { $0.action == "quota-delete" })
            await stop()
            await daemonSide.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

/// A media queue whose items cannot be deleted (a read-only or failing card).
final class UndeletableQueue: MediaQueue {
    let item: MediaItem
    let attempts = Mutex(0)

    init(_ item: MediaItem) { self.item = item }
    func waiting() throws -> [MediaItem] { [item] }
    func uploaded(_ item: MediaItem) throws {
        attempts.withLock { $0 += 1 }
        throw CocoaError(.fileWriteNoPermission)
    }
    func reject(_ item: MediaItem) throws {}
}

extension UplinkEndToEndTests {
    @Test("an uploaded item that cannot be deleted is reported and backed off, not announced again in a loop")
    func undeletableMedia() async throws {
        let rig = try Rig()
        let (clip, _) = try rig.clip(bytes: 10_000)
        let queue = UndeletableQueue(clip)
        let clock = TestClock()
        let service = UplinkService(
            outbox: rig.outbox, media: queue, pairing: rig.pairing, identity: rig.device,
            health: rig.registry.register("uplink", deadline: .seconds(30)), logger: rig.logger,
            faults: FaultLimiter(interval: .seconds(60)), retry: .milliseconds(200) ... .seconds(1), clock: clock)
        let daemonSide = ServiceGroup(services: [service], logger: rig.logger)
        let (stop, _) = try rig.syncModule()
        let task = Task { try await daemonSide.run() }
        // Asleep on the test clock between attempts: one more for each second the clock moves
        // (the backoff is at most 1 s), none while it stands still. Until the first delete fails,
        // the clock moves whenever the service waits (the sync module may still be starting).
        #expect(
            await eventually(timeout: .seconds(30)) {
                if case .degraded(let reason) = rig.uplinkState(), reason.contains("not writable") {
                    return clock.sleeping == 1
                }
                if clock.sleeping > 0 { clock.advance(by: .seconds(1)) }
                return false
            })
        let first = queue.attempts.withLock { $0 }
        for round in 1...5 {
            clock.advance(by: .seconds(1))
            #expect(
                await eventually(timeout: .seconds(30)) {
                    queue.attempts.withLock { $0 } == first + round && clock.sleeping == 1
                }, "round \(round): \(queue.attempts.withLock { $0 } - first) attempts")
        }
        #expect(queue.attempts.withLock { $0 } == first + 5)
        #expect(try rig.store.media(clip.id, from: rig.device.deviceID)?.completedAt != nil)
        await daemonSide.triggerGracefulShutdown()
        _ = try? await task.value
        await stop()
    }
}

@Suite("Control channel to a real sync module on loopback", .timeLimit(.minutes(10)))
struct ControlChannelTests {
    /// A camera offering a frame every 20 ms to `tap`, its bytes made from its sequence number.
    static func camera(_ tap: FrameTap, bytes: @escaping @Sendable (UInt64) -> [UInt8]) -> Task<Void, Never> {
        Task {
            var sequence: UInt64 = 0
            while !Task.isCancelled {
                sequence += 1
                tap.offer(
                    Frame(
                        bytes: bytes(sequence), format: .mjpeg, width: 2, height: 2,
                        timestamp: .milliseconds(Int64(sequence) * 100), sequence: sequence))
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    @Test("the doorbell keeps a signed channel open; commands get results; live frames reach viewers and stop")
    func commandsAndLiveView() async throws {
        let rig = try UplinkEndToEndTests.Rig()
        let tap = FrameTap()
        let reloads = Mutex(0)
        let (keyring, keys) = try Self.owner(of: rig)
        let commands = RemoteCommands(
            tap: tap, ownerKeys: keys, maxLive: .seconds(30), logger: rig.logger, device: rig.device.deviceID
        ) {
            reloads.withLock { $0 += 1 }
        }
        let channel = rig.controlChannel(commands)
        let camera = Self.camera(tap) { [0xFF, 0xD8, UInt8(truncatingIfNeeded: $0), 0xFF, 0xD9] }
        defer { camera.cancel() }
        let daemonSide = ServiceGroup(services: [channel], logger: rig.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await daemonSide.run() }
            let (stop, _, hub) = try rig.syncModuleWithHub()
            let device = rig.device.deviceID
            #expect(await eventually(timeout: .seconds(30)) { hub.connected.contains(device) })

            var frames = hub.frames(from: device).makeAsyncIterator()
            let started = await hub.send(
                keyring.command(.liveStart, id: "1", device: device, maxSeconds: 60), to: device)
            #expect(started.ok == true)
            let first = try #require(await frames.next())
            #expect(try SealedMedia.open(Array(first), with: keyring.browser).plaintext.count == 5)
            #expect(await hub.send(ControlCommand(.liveStop, id: "2"), to: device).ok == true)
            #expect(await eventually(timeout: .seconds(30)) { !commands.isLive })

            #expect(await hub.send(ControlCommand(.reloadConfig, id: "3"), to: device).ok == true)
            #expect(reloads.withLock { $0 } == 1)
            let talk = await hub.send(keyring.command(.talkStart, id: "4", device: device), to: device)
            #expect(talk.ok == false)
            #expect(talk.reason?.contains("audio") == true)
            // A command this doorbell does not know is answered at once, not left to time out.
            let unknown = await hub.send(text: #"{"type":"command","id":"5","name":"fly"}"#, id: "5", to: device)
            #expect(unknown.ok == false && unknown.reason == "not a command this doorbell knows")
            #expect(await hub.send(ControlCommand(.liveStart, id: "6"), to: "someone-else").ok == false)

            // The sync module restarts: a live stream has nowhere to go and ends, and the doorbell
            // opens a new channel by itself.
            #expect(
                await hub.send(keyring.command(.liveStart, id: "6b", device: device, maxSeconds: 60), to: device).ok
                    == true)
            #expect(commands.isLive)
            await stop()
            #expect(await eventually(timeout: .seconds(30)) { commands.isLive == false })
            let (stopAgain, _, secondHub) = try rig.syncModuleWithHub()
            #expect(await eventually(timeout: .seconds(30)) { secondHub.connected.contains(device) })
            #expect(
                await secondHub.send(keyring.command(.snapshotNow, id: "7", device: device), to: device).ok == true)
            await stopAgain()
            await daemonSide.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// The owner's keys registered at the rig's sync module as the page does it, and the doorbell's
    /// key file, with the recovery key pinned when `pinned`, as `porchlightctl pair
    /// --recovery-fingerprint` leaves it.
    static func owner(of rig: UplinkEndToEndTests.Rig, pinned: Bool = true) throws -> (OwnerKeyring, OwnerKeysFile) {
        let keyring = OwnerKeyring()
        for key in keyring.wire {
            _ = try rig.store.addOwnerKey(
                owner: "owner", label: key.label, publicKey: key.publicKey, signature: key.signature,
                now: unixMilliseconds())
        }
        let keys = OwnerKeysFile(stateDirectory: rig.directory.path)
        if pinned { try keys.trust(point: keyring.recovery.publicKey.base64, fingerprint: keyring.fingerprint) }
        return (keyring, keys)
    }

    /// Runs the doorbell's control channel, sealing for `keys`, with a camera that offers `jpeg`,
    /// while `body` runs with the device id; shuts it down after, also when `body` throws.
    static func withDoorbell(
        _ rig: UplinkEndToEndTests.Rig, keys: OwnerKeysFile, jpeg: [UInt8], access: (any AccessRecording)? = nil,
        _ body: (String) async throws -> Void
    ) async throws {
        let tap = FrameTap()
        let channel = rig.controlChannel(
            RemoteCommands(
                tap: tap, ownerKeys: keys, maxLive: .seconds(30), logger: rig.logger, access: access,
                device: rig.device.deviceID
            ) {})
        let camera = Self.camera(tap) { _ in jpeg }
        defer { camera.cancel() }
        let daemonSide = ServiceGroup(services: [channel], logger: rig.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await daemonSide.run() }
            do {
                try await body(rig.device.deviceID)
            } catch {
                await daemonSide.triggerGracefulShutdown()
                throw error
            }
            await daemonSide.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("with an owner key, live frames leave the doorbell sealed and open to the frame's JPEG")
    func sealedLiveView() async throws {
        let rig = try UplinkEndToEndTests.Rig()
        // The owner's keys at the sync module, which hands them to the doorbell when the channel
        // opens; the doorbell pinned the recovery key at pairing.
        let (keyring, keys) = try Self.owner(of: rig)
        let jpeg: [UInt8] = [0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9]
        try await Self.withDoorbell(rig, keys: keys, jpeg: jpeg) { device in
            let (stop, _, hub) = try rig.syncModuleWithHub()
            #expect(await eventually(timeout: .seconds(30)) { hub.connected.contains(device) })
            var frames = hub.frames(from: device).makeAsyncIterator()
            #expect(
                await hub.send(keyring.command(.liveStart, id: "1", device: device, maxSeconds: 60), to: device).ok
                    == true)
            let first = try #require(await frames.next())
            #expect(Set(keys.load().map(\.id)) == Set(keyring.wire.map(\.id)))
            #expect(Array(first.prefix(4)) == Array("PLS1".utf8))
            #expect(try SealedMedia.open(Array(first), with: keyring.browser).plaintext == jpeg)
            await stop()
        }
    }

    @Test(
        "only what the owner signed, for this door, fresh and once, runs: every other command is refused, logged and in STATUS"
    )
    func ownerSignedOnly() async throws {
        let rig = try UplinkEndToEndTests.Rig()
        let (keyring, keys) = try Self.owner(of: rig)
        let access = RecordedAccess()
        try await Self.withDoorbell(rig, keys: keys, jpeg: [0xFF, 0xD8, 7, 0xFF, 0xD9], access: access) { device in
            let (stop, _, hub) = try rig.syncModuleWithHub()
            #expect(
                await eventually(timeout: .seconds(30)) {
                    hub.connected.contains(device) && keys.recipients()?.count == 2
                })
            let original = keyring.command(.liveStart, id: "altered", device: device, maxSeconds: 5)
            var altered = original
            altered.signed = original.signed?.replacingOccurrences(of: "\"maxSeconds\":5", with: "\"maxSeconds\":3600")
            #expect(altered.signed != original.signed)
            var relabelled = keyring.command(.snapshotNow, id: "relabelled", device: device)
            relabelled.name = .liveStart
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let refused: [(String, ControlCommand, String)] = [
                ("unsigned", ControlCommand(.liveStart, id: "u"), "not signed"),
                ("altered", altered, "does not verify"),
                (
                    "for another door",
                    keyring.command(.liveStart, id: "d", device: String(repeating: "ab", count: 16)), "for doorbell"
                ),
                ("another command", relabelled, "not the \"live-start\""),
                (
                    "a key never vouched for", keyring.command(.liveStart, id: "k", device: device, by: OwnerKey()),
                    "does not hold"
                ),
                ("too old", keyring.command(.liveStart, id: "s", device: device, at: now - 600_000), "not fresh"),
            ]
            for (what, message, reason) in refused {
                let answer = await hub.send(message, to: device)
                #expect(
                    answer.ok == false && answer.reason?.contains(reason) == true, "\(what): \(answer.reason ?? "none")"
                )
            }
            let good = keyring.command(.snapshotNow, id: "good", device: device)
            #expect(await hub.send(good, to: device).ok == true)
            var again = good
            again.id = "again"
            let replayed = await hub.send(again, to: device)
            #expect(replayed.ok == false && replayed.reason?.contains("replayed") == true, "\(replayed.reason ?? "")")
            // The owner revokes this browser's key: what it signs is refused from then on.
            _ = try rig.store.revokeOwnerKey(keyring.browser.publicKey.id, now: now)
            hub.publishOwnerKeys()
            #expect(await eventually(timeout: .seconds(30)) { keys.recipients()?.count == 1 })
            let revoked = await hub.send(keyring.command(.snapshotNow, id: "revoked", device: device), to: device)
            #expect(revoked.ok == false && revoked.reason?.contains("does not hold") == true)
            // Refusals are in the access log (the first at once, the rest counted in the next
            // entry after 10 s) and in STATUS.
            let entries = access.notes.filter { $0.action == "command-refused" }
            #expect(entries.count == 1 && entries.first?.detail.contains("not signed") == true, "\(entries)")
            #expect(access.notes.filter { $0.action == "snapshot" }.count == 1)
            #expect(
                await eventually(timeout: .seconds(30)) {
                    rig.registry.statusLine().contains("refused 8 commands the owner did not sign")
                }, "\(rig.registry.statusLine())")
            await stop()
        }
    }

    @Test("with no recovery key pinned, live view and snapshot-now are refused: no picture leaves unsealed")
    func nothingBeforeThePin() async throws {
        let rig = try UplinkEndToEndTests.Rig()
        // Keys at the sync module, received by the doorbell, but never confirmed there.
        let (keyring, keys) = try Self.owner(of: rig, pinned: false)
        try await Self.withDoorbell(rig, keys: keys, jpeg: [0xFF, 0xD8, 1, 0xFF, 0xD9]) { device in
            let (stop, _, hub) = try rig.syncModuleWithHub()
            #expect(await eventually(timeout: .seconds(30)) { keys.load().count == 2 })
            for name in [CommandName.liveStart, .snapshotNow] {
                let answer = await hub.send(
                    keyring.command(name, id: name.rawValue, device: device, maxSeconds: 60), to: device)
                #expect(answer.ok == false && answer.reason?.contains("no recovery key") == true, "\(name)")
            }
            await stop()
        }
    }

    @Test("a key store the sync module cannot read sends doorbells nothing: they keep sealing for the keys they have")
    func unreadableKeyStoreSendsNoKeys() async throws {
        let rig = try UplinkEndToEndTests.Rig()
        let (keyring, keys) = try Self.owner(of: rig)
        let jpeg: [UInt8] = [0xFF, 0xD8, 4, 5, 6, 0xFF, 0xD9]
        try await Self.withDoorbell(rig, keys: keys, jpeg: jpeg) { device in
            let (stop, _, hub) = try rig.syncModuleWithHub()
            #expect(
                await eventually(timeout: .seconds(30)) { Set(keys.load().map(\.id)) == Set(keyring.wire.map(\.id)) })
            await stop()
            #expect(await eventually(timeout: .seconds(30)) { !hub.connected.contains(device) })
            // The table goes: every read of the keys now fails.
            try rig.store.write { try $0.execute(sql: "ALTER TABLE ownerKey RENAME TO ownerKeyAway") }
            #expect(throws: (any Error).self) { try rig.store.ownerKeys() }
            let (stopAgain, _, secondHub) = try rig.syncModuleWithHub()
            #expect(await eventually(timeout: .seconds(30)) { secondHub.connected.contains(device) })
            secondHub.publishOwnerKeys()
            var frames = secondHub.frames(from: device).makeAsyncIterator()
            #expect(
                await secondHub.send(keyring.command(.liveStart, id: "1", device: device, maxSeconds: 60), to: device)
                    .ok == true)
            let first = try #require(await frames.next())
            #expect(Set(keys.load().map(\.id)) == Set(keyring.wire.map(\.id)))
            #expect(try SealedMedia.open(Array(first), with: keyring.browser).plaintext == jpeg)
            await stopAgain()
        }
    }

    @Test("a control channel without a valid signature is refused")
    func unsignedRefused() async throws {
        let rig = try UplinkEndToEndTests.Rig()
        let stranger = try DeviceIdentity()
        let channel = rig.controlChannel(
            RemoteCommands(tap: nil, maxLive: .seconds(10), logger: rig.logger) {}, identity: stranger)
        let (stop, _, hub) = try rig.syncModuleWithHub()
        let daemonSide = ServiceGroup(services: [channel], logger: rig.logger)
        let task = Task { try await daemonSide.run() }
        // Refused, the channel reports itself down; waited for rather than slept on, since a busy
        // machine can take longer than any fixed pause to make the first attempt.
        let down = await eventually(timeout: .seconds(30)) {
            if case .degraded(let reason) = rig.registry.snapshot().first?.state {
                return reason.contains("control channel down")
            }
            return false
        }
        #expect(down, "the channel should report itself down")
        #expect(hub.connected.isEmpty)
        await daemonSide.triggerGracefulShutdown()
        _ = try? await task.value
        await stop()
    }
}

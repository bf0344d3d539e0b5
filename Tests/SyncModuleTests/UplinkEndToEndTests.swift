import DoorbellCore
import DoorbellTestKit
import Foundation
import Logging
import ServiceLifecycle
import SyncModule
import SyncProtocol
import Synchronization
import Testing
import Uplink

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP port that was free a moment ago, for a server that must come back on the same port.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

@Suite("Uplink to a real sync module on loopback")
struct UplinkEndToEndTests {
    @Test("200 rings while the sync module is down are all stored exactly once, in order, after it comes up")
    func syncModuleDown() async throws {
        let directory = try TemporaryDirectory()
        var logger = Logger(label: "e2e")
        logger.logLevel = .critical
        let store = try SQLiteSyncStore(path: directory.path + "/sync.sqlite")
        let identity = try ServerIdentity.loadOrCreate(directory: directory.path, hostnames: ["localhost"])
        let device = try DeviceIdentity()
        try store.addPairingCode("E2E2-CODE", expiresAt: SyncAPI.unixMilliseconds() + 60_000)
        _ = try store.pair(
            code: "E2E2-CODE", publicKey: device.publicKey, name: "Front", now: SyncAPI.unixMilliseconds())
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
                await eventually(timeout: .seconds(20)) {
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
}

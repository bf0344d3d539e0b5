import DoorbellCore
import DoorbellTestKit
import Logging
import ServiceLifecycle
import Systemd
import Testing

/// Runs a `SystemdService` in a service group with a test notify socket.
struct NotifyHarness {
    let socket: DatagramRecorder
    let registry = HealthRegistry()
    let group: ServiceGroup

    init(watchdog: Duration?) throws {
        socket = try DatagramRecorder()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let service = SystemdService(
            notifier: try Notifier(socketPath: socket.path), registry: registry, watchdogInterval: watchdog,
            statusInterval: .milliseconds(20), logger: logger, faults: FaultLimiter(interval: .seconds(60)))
        group = ServiceGroup(services: [service], logger: logger)
    }

    func run<T>(_ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        }
    }
}

@Suite("systemd notification service", .timeLimit(.minutes(10)))
struct SystemdServiceTests {
    @Test("READY=1 comes only once every component has started")
    func readyAfterStartup() async throws {
        let harness = try NotifyHarness(watchdog: nil)
        let button = harness.registry.register("button", deadline: .seconds(10))
        let camera = harness.registry.register("camera", deadline: .seconds(10))
        try await harness.run {
            button.checkIn()
            #expect(await harness.socket.nextMessage(timeout: .milliseconds(300)) == nil)
            camera.checkIn()
            let ready = await harness.socket.nextMessage()
            #expect(ready == "READY=1\nSTATUS=running: button, camera")
        }
    }

    @Test("STATUS= follows a component that degrades")
    func statusFollowsHealth() async throws {
        let harness = try NotifyHarness(watchdog: nil)
        let camera = harness.registry.register("camera", deadline: .seconds(10))
        camera.checkIn()
        try await harness.run {
            #expect(await harness.socket.waitFor("READY=1") != nil)
            camera.checkIn(.degraded("no device"))
            #expect(await harness.socket.waitFor("STATUS=camera degraded (no device)") != nil)
        }
    }

    @Test("STOPPING=1 is sent on graceful shutdown")
    func stoppingOnShutdown() async throws {
        let harness = try NotifyHarness(watchdog: nil)
        harness.registry.register("button", deadline: .seconds(10)).checkIn()
        try await harness.run {
            #expect(await harness.socket.waitFor("READY=1") != nil)
        }
        #expect(await harness.socket.waitFor("STOPPING=1", timeout: .seconds(2)) != nil)
    }

    @Test("WATCHDOG=1 arrives at the watchdog cadence, and stops when a component stops checking in")
    func watchdogCadenceAndStall() async throws {
        let harness = try NotifyHarness(watchdog: .milliseconds(50))
        let button = harness.registry.register("button", deadline: .milliseconds(150))
        let keepAlive = Task {
            while !Task.isCancelled {
                button.checkIn()
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        try await harness.run {
            #expect(await harness.socket.waitFor("READY=1") != nil)
            let (healthy, elapsed) = await harness.socket.count("WATCHDOG=1", over: .milliseconds(600))
            // One ping per 50 ms interval that really passed; scheduling on a loaded machine may lose some.
            let intervals = elapsed / .milliseconds(50)
            #expect(
                Double(healthy) >= intervals / 2 - 1 && Double(healthy) <= intervals + 2,
                "\(healthy) pings in \(elapsed) at a 50 ms cadence")

            keepAlive.cancel()
            _ = await keepAlive.value
            // Pings sent before the deadline passed may still be in flight.
            _ = await harness.socket.drain(for: .milliseconds(300))
            let stalled = await harness.socket.drain(for: .milliseconds(500)).filter { $0 == "WATCHDOG=1" }
            #expect(stalled.isEmpty)

            button.checkIn()
            #expect(await harness.socket.waitFor("WATCHDOG=1", timeout: .seconds(2)) != nil)
        }
    }
}

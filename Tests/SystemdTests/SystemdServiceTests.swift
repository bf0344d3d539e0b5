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

    init(watchdog: Duration?, clock: any Clock<Duration> = ContinuousClock()) throws {
        socket = try DatagramRecorder()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let service = SystemdService(
            notifier: try Notifier(socketPath: socket.path), registry: registry, watchdogInterval: watchdog,
            statusInterval: .milliseconds(20), logger: logger, faults: FaultLimiter(interval: .seconds(60)),
            clock: clock)
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
        // Deadlines far beyond any wait here: stalls are not what this test is about.
        let button = harness.registry.register("button", deadline: .seconds(120))
        let camera = harness.registry.register("camera", deadline: .seconds(120))
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
        let camera = harness.registry.register("camera", deadline: .seconds(120))
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
        harness.registry.register("button", deadline: .seconds(120)).checkIn()
        try await harness.run {
            #expect(await harness.socket.waitFor("READY=1") != nil)
        }
        #expect(await harness.socket.waitFor("STOPPING=1", timeout: .seconds(2)) != nil)
    }

    @Test("WATCHDOG=1 arrives once per watchdog interval, and stops while a component is stalled")
    func watchdogCadenceAndStall() async throws {
        let clock = TestClock()
        let harness = try NotifyHarness(watchdog: .milliseconds(50), clock: clock)
        // A check-in carries its instant. One an hour ahead of real time is never late, however
        // slow the machine; one an hour behind is stalled at once. Real time decides nothing here.
        let button = harness.registry.register("button", deadline: .seconds(60))
        let fresh = { ContinuousClock.now + .seconds(3600) }
        button.checkIn(now: fresh())
        try await harness.run {
            #expect(await harness.socket.waitFor("READY=1") != nil)
            // The watchdog and status loops both sleep on the clock; each interval wakes them once.
            // The pings are read after each interval, so the socket's queue never fills.
            func interval() async -> Int {
                #expect(await clock.waitForSleepers(2))
                clock.advance(by: .milliseconds(50))
                #expect(await clock.waitForSleepers(2))
                return await harness.socket.queued().filter { $0 == "WATCHDOG=1" }.count
            }

            var pings: [Int] = []
            for _ in 0..<10 { pings.append(await interval()) }
            #expect(pings == Array(repeating: 1, count: 10))

            // The button stops checking in: no interval pings while it is stalled.
            button.checkIn(now: .now - .seconds(3600))
            #expect(harness.registry.stalled() == ["button"])
            pings = []
            for _ in 0..<5 { pings.append(await interval()) }
            #expect(pings == Array(repeating: 0, count: 5))

            button.checkIn(now: fresh())
            #expect(await interval() == 1)
        }
    }
}

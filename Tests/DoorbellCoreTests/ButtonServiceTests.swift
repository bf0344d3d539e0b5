import DoorbellCore
import DoorbellTestKit
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// Collects what the button service hands on.
final class OutputRecorder: Sendable {
    private let outputs = Mutex<[ButtonOutput]>([])
    func record(_ output: ButtonOutput) { outputs.withLock { $0.append(output) } }
    var all: [ButtonOutput] { outputs.withLock { $0 } }
    var rings: Int { all.filter { if case .ring = $0 { true } else { false } }.count }
}

struct ButtonServiceHarness {
    let button = ScriptedButton()
    let registry = HealthRegistry()
    let recorder = OutputRecorder()
    let simulator = ButtonSimulator()
    let service: ButtonService

    init() {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        service = ButtonService(
            source: button,
            settings: .init(debounce: .milliseconds(30), longPress: .milliseconds(300), ringWindow: .seconds(10)),
            clock: SystemClock(), health: registry.register("button", deadline: .seconds(5)), simulator: simulator,
            logger: logger, faults: FaultLimiter(interval: .seconds(60)), heartbeat: .milliseconds(50),
            reopenBackoff: .milliseconds(10) ... .milliseconds(40), handle: recorder.record)
    }

    func run(_ body: () async throws -> Void) async throws {
        let group = ServiceGroup(services: [service], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

@Suite("Button service", .timeLimit(.minutes(10)))
struct ButtonServiceTests {
    @Test("edges from the line reach the logic, and the long-press timer fires without further edges")
    func edgesAndTimers() async throws {
        let harness = ButtonServiceHarness()
        try await harness.run {
            #expect(await eventually { harness.button.openCount == 1 })
            let now = SystemClock().monotonicNow()
            harness.button.push(ButtonEdge(.pressed, at: now))
            #expect(await eventually { harness.recorder.rings == 1 })
            #expect(await eventually { harness.recorder.all.contains(.longPress(at: now + .milliseconds(300))) })
        }
    }

    @Test("a simulated press goes through the same path as a real one")
    func simulatedPress() async throws {
        let harness = ButtonServiceHarness()
        try await harness.run {
            #expect(await eventually { harness.button.openCount == 1 })
            harness.simulator.press(hold: .milliseconds(50))
            #expect(await eventually { harness.recorder.rings == 1 })
            #expect(
                await eventually { harness.recorder.all.contains { if case .released = $0 { true } else { false } } })
        }
    }

    @Test("a line that fails is reported degraded and reopened; presses work again afterwards")
    func lineFailureIsRecovered() async throws {
        struct ChipGone: Error {}
        let harness = ButtonServiceHarness()
        try await harness.run {
            #expect(await eventually { harness.button.openCount == 1 })
            harness.button.failOpening(with: ChipGone())
            harness.button.fail(ChipGone())
            #expect(await eventually { harness.registry.snapshot().first?.state != .ok })
            harness.button.failOpening(with: nil)
            #expect(await eventually { harness.button.openCount == 2 })
            #expect(await eventually { harness.registry.snapshot().first?.state == .ok })
            harness.button.push(ButtonEdge(.pressed, at: SystemClock().monotonicNow()))
            #expect(await eventually { harness.recorder.rings == 1 })
        }
    }

    @Test("a line that cannot be opened at start is a startup error")
    func openFailureAtStart() async throws {
        struct ChipGone: Error {}
        let harness = ButtonServiceHarness()
        harness.button.failOpening(with: ChipGone())
        await #expect(throws: ChipGone.self) { try await harness.service.run() }
    }
}

import Config
import DoorbellAssembly
import DoorbellCore
import DoorbellTestKit
import Logging
import ServiceLifecycle
import Testing

/// The daemon's wiring in-process: the services `porchlightd` runs, from a parsed config, without
/// the executable around them.
@Suite("The doorbell's composition, in-process", .timeLimit(.minutes(10)))
struct CompositionRootTests {
    @Test("a simulated press through the composed services is stored in the outbox, as a ring")
    func pressReachesTheOutbox() async throws {
        let directory = try TemporaryDirectory()
        let config = try ConfigLoader.parse(validConfig(in: directory), file: "porchlight.toml")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let registry = HealthRegistry()
        let root = try CompositionRoot(
            config: config, sounds: nil, registry: registry, logger: logger,
            faults: FaultLimiter(interval: .seconds(60)))
        let group = ServiceGroup(services: root.services, logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await eventually { registry.snapshot().contains { $0.name == "button" && $0.state == .ok } })
            root.simulator.press()
            #expect(await eventually { ((try? root.outbox.pending()) ?? []).contains { $0.event.kind == .ring } })
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

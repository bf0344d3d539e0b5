import DoorbellCore
import Testing

@Suite("Health registry", .timeLimit(.minutes(10)))
struct HealthRegistryTests {
    let start = ContinuousClock.now

    @Test("a component that checks in within its deadline is not stalled")
    func checkInKeepsAlive() {
        let registry = HealthRegistry()
        let camera = registry.register("camera", deadline: .seconds(2), now: start)
        camera.checkIn(now: start + .seconds(1.5))
        #expect(registry.stalled(at: start + .seconds(3)).isEmpty)
    }

    @Test("a component that stops checking in is stalled after its own deadline, and only it")
    func silenceStalls() {
        let registry = HealthRegistry()
        let button = registry.register("button", deadline: .seconds(1), now: start)
        let camera = registry.register("camera", deadline: .seconds(5), now: start)
        button.checkIn(now: start)
        camera.checkIn(now: start)
        #expect(registry.stalled(at: start + .milliseconds(1500)) == ["button"])
        #expect(registry.stalled(at: start + .seconds(6)) == ["button", "camera"])
    }

    @Test("a degraded component that keeps checking in is not stalled")
    func degradedIsAlive() {
        let registry = HealthRegistry()
        let camera = registry.register("camera", deadline: .seconds(1), now: start)
        camera.checkIn(.degraded("no device"), now: start + .milliseconds(900))
        #expect(registry.stalled(at: start + .milliseconds(1800)).isEmpty)
        #expect(registry.statusLine(at: start + .milliseconds(1800)) == "camera degraded (no device)")
    }

    @Test("the status line lists what runs, then what is starting, degraded or stalled")
    func statusLine() {
        let registry = HealthRegistry()
        let button = registry.register("button", deadline: .seconds(1), now: start)
        _ = registry.register("camera", deadline: .seconds(10), now: start)
        let uplink = registry.register("uplink", deadline: .seconds(10), now: start)
        let audio = registry.register("audio", deadline: .seconds(10), now: start)
        button.checkIn(now: start)
        uplink.checkIn(now: start)
        audio.checkIn(.degraded("no card"), now: start)
        #expect(registry.statusLine(at: start) == "running: button, uplink; camera starting; audio degraded (no card)")
        #expect(
            registry.statusLine(at: start + .seconds(2))
                == "running: uplink; button stalled; camera starting; audio degraded (no card)")
    }

    @Test("waitUntilStarted returns only after every component has left starting")
    func readinessWaitsForEveryComponent() async {
        let registry = HealthRegistry()
        let button = registry.register("button", deadline: .seconds(10))
        let camera = registry.register("camera", deadline: .seconds(10))
        let started = Flag()
        let waiter = Task {
            await registry.waitUntilStarted()
            started.set()
        }
        button.checkIn()
        try? await Task.sleep(for: .milliseconds(50))
        #expect(!started.isSet)
        camera.checkIn(.degraded("no device"))
        await waiter.value
        #expect(started.isSet)
    }

    @Test("waitUntilStarted returns at once when everything has started")
    func readinessWhenAlreadyStarted() async {
        let registry = HealthRegistry()
        registry.register("button", deadline: .seconds(10)).checkIn()
        await registry.waitUntilStarted()
    }
}

/// A thread-safe boolean for observing another task.
final class Flag: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var isSet: Bool { state.withLock { $0 } }
}

import Synchronization

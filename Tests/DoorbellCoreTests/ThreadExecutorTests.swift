import DoorbellCore
import Foundation
import Testing

@Suite("Thread executor", .timeLimit(.minutes(10)))
struct ThreadExecutorTests {
    static let executor = ThreadExecutor(name: "porchlight-test-executor")

    @Test("work in a task that prefers it runs on its own thread, before and after suspensions")
    func runsOnItsThread() async throws {
        #expect(!Self.executor.isCurrent)
        let places = try await withTaskExecutorPreference(Self.executor) {
            var places = [Self.executor.isCurrent]
            try await Task.sleep(for: .milliseconds(5))
            places.append(Self.executor.isCurrent)
            await Task.yield()
            places.append(Self.executor.isCurrent)
            return places
        }
        #expect(places == [true, true, true])
    }

    @Test("while its thread is blocked, tasks on the cooperative pool still run")
    func blockedThreadLeavesThePoolFree() async {
        let release = DispatchSemaphore(value: 0)
        let blocked = Task {
            await withTaskExecutorPreference(Self.executor) { release.wait() }
        }
        // Runs on the pool while the executor's thread waits; it is what lets that thread go.
        let poolTask = Task { release.signal() }
        await poolTask.value
        await blocked.value
    }
}

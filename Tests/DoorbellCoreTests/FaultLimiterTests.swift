import DoorbellCore
import Testing

@Suite("Fault limiter", .timeLimit(.minutes(10)))
struct FaultLimiterTests {
    let start = ContinuousClock.now

    @Test("the first occurrence is logged, repeats within the interval are counted, not logged")
    func repeatsAreSuppressed() {
        let limiter = FaultLimiter(interval: .seconds(60))
        #expect(limiter.admit("camera.lost", now: start) == (true, 0))
        #expect(limiter.admit("camera.lost", now: start + .seconds(1)) == (false, 1))
        #expect(limiter.admit("camera.lost", now: start + .seconds(2)) == (false, 2))
        #expect(limiter.admit("camera.lost", now: start + .seconds(61)) == (true, 2))
        #expect(limiter.admit("camera.lost", now: start + .seconds(62)) == (false, 1))
    }

    @Test("different faults are limited separately")
    func keysAreIndependent() {
        let limiter = FaultLimiter(interval: .seconds(60))
        #expect(limiter.admit("camera.lost", now: start).log)
        #expect(limiter.admit("audio.xrun", now: start).log)
    }

    @Test("after clear, the next occurrence is logged at once")
    func clearResets() {
        let limiter = FaultLimiter(interval: .seconds(60))
        _ = limiter.admit("camera.lost", now: start)
        limiter.clear("camera.lost")
        #expect(limiter.admit("camera.lost", now: start + .seconds(1)) == (true, 0))
    }
}

import DoorbellCore
import DoorbellTestKit
import Synchronization
import Testing

@Suite("Pulsed chime")
struct PulsedChimeTests {
    struct RelayStuck: Error {}

    @Test("a strike drives the relay on at once and off exactly when the pulse has passed")
    func pulse() async {
        let clock = TestClock()
        let relay = RecordingOutput()
        let chime = PulsedChime(output: relay, pulse: .milliseconds(300), clock: clock) { _ in }
        let start = clock.now
        chime.strike()
        #expect(relay.history == [true])
        #expect(await eventually { clock.sleepers == [start.advanced(by: .milliseconds(300))] })
        clock.advance(by: .milliseconds(299))
        #expect(relay.history == [true])  // nothing is due yet, so nothing can have switched it
        clock.advance(by: .milliseconds(1))
        #expect(await eventually { relay.history == [true, false] })
        #expect(await eventually { clock.sleepers.isEmpty })
    }

    @Test("a strike during a pulse extends it instead of switching the relay off early")
    func overlappingStrikes() async {
        let clock = TestClock()
        let relay = RecordingOutput()
        let chime = PulsedChime(output: relay, pulse: .milliseconds(150), clock: clock) { _ in }
        let start = clock.now
        chime.strike()
        #expect(await eventually { clock.sleepers == [start.advanced(by: .milliseconds(150))] })
        clock.advance(by: .milliseconds(100))
        chime.strike()
        // The first pulse's end passes; the timer sleeps on to the second's instead of switching off.
        clock.advance(by: .milliseconds(50))
        #expect(await eventually { clock.sleepers == [start.advanced(by: .milliseconds(250))] })
        #expect(relay.history == [true, true])
        clock.advance(by: .milliseconds(100))
        #expect(await eventually { relay.history == [true, true, false] })
    }

    @Test("a strike after a pulse ended starts a new pulse of its own")
    func separateStrikes() async {
        let clock = TestClock()
        let relay = RecordingOutput()
        let chime = PulsedChime(output: relay, pulse: .milliseconds(300), clock: clock) { _ in }
        chime.strike()
        #expect(await eventually { clock.sleepers.count == 1 })
        clock.advance(by: .milliseconds(300))
        #expect(await eventually { relay.history == [true, false] && clock.sleepers.isEmpty })
        let second = clock.now
        chime.strike()
        #expect(await eventually { clock.sleepers == [second.advanced(by: .milliseconds(300))] })
        clock.advance(by: .milliseconds(300))
        #expect(await eventually { relay.history == [true, false, true, false] })
    }

    @Test("the daemon's chime, on the monotonic clock, switches the relay off by itself")
    func realClock() async {
        let relay = RecordingOutput()
        let chime = PulsedChime(output: relay, pulse: .milliseconds(30)) { _ in }
        chime.strike()
        #expect(relay.history == [true])
        #expect(await eventually { relay.history == [true, false] })
    }

    @Test("a relay that cannot be driven is reported, not thrown into the ring path")
    func relayFailure() {
        let relay = RecordingOutput()
        relay.fail(with: RelayStuck())
        let errors = Mutex(0)
        let chime = PulsedChime(output: relay, pulse: .milliseconds(10)) { _ in errors.withLock { $0 += 1 } }
        chime.strike()
        #expect(errors.withLock { $0 } == 1)
    }
}

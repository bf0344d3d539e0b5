import DoorbellCore
import DoorbellTestKit
import Synchronization
import Testing

@Suite("Pulsed chime", .timeLimit(.minutes(10)))
struct PulsedChimeTests {
    struct RelayStuck: Error {}

    @Test("a strike drives the relay on at once and off exactly when the pulse has passed")
    func pulse() {
        let timer = ManualTimer()
        let relay = RecordingOutput()
        let chime = PulsedChime(output: relay, pulse: .milliseconds(300), timer: timer) { _ in }
        chime.strike()
        #expect(relay.history == [true])
        #expect(timer.pending == [.milliseconds(300)])
        timer.advance(by: .milliseconds(299))
        #expect(relay.history == [true])
        timer.advance(by: .milliseconds(1))
        #expect(relay.history == [true, false])
        #expect(timer.pending.isEmpty)
    }

    @Test("a strike during a pulse extends it instead of switching the relay off early")
    func overlappingStrikes() {
        let timer = ManualTimer()
        let relay = RecordingOutput()
        let chime = PulsedChime(output: relay, pulse: .milliseconds(150), timer: timer) { _ in }
        chime.strike()
        timer.advance(by: .milliseconds(100))
        chime.strike()
        timer.advance(by: .milliseconds(50))  // the first pulse's end: superseded
        #expect(relay.history == [true, true])
        timer.advance(by: .milliseconds(99))
        #expect(relay.history == [true, true])
        timer.advance(by: .milliseconds(1))  // 150 ms after the second strike
        #expect(relay.history == [true, true, false])
    }

    @Test("a strike after a pulse ended starts a new pulse of its own")
    func separateStrikes() {
        let timer = ManualTimer()
        let relay = RecordingOutput()
        let chime = PulsedChime(output: relay, pulse: .milliseconds(300), timer: timer) { _ in }
        chime.strike()
        timer.advance(by: .milliseconds(300))
        chime.strike()
        #expect(relay.history == [true, false, true])
        timer.advance(by: .milliseconds(300))
        #expect(relay.history == [true, false, true, false])
    }

    @Test("the daemon's dispatch timer switches the relay off by itself")
    func dispatchTimer() async {
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

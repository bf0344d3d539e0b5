import DoorbellCore
import DoorbellTestKit
import Synchronization
import Testing

@Suite("Pulsed chime")
struct PulsedChimeTests {
    struct RelayStuck: Error {}

    @Test("a strike drives the relay on at once and off after the pulse")
    func pulse() async {
        let relay = RecordingOutput()
        let chime = PulsedChime(output: relay, pulse: .milliseconds(30)) { _ in }
        chime.strike()
        #expect(relay.history == [true])
        #expect(await eventually { relay.history == [true, false] })
    }

    @Test("a strike during a pulse extends it instead of switching the relay off early")
    func overlappingStrikes() async throws {
        let relay = RecordingOutput()
        let chime = PulsedChime(output: relay, pulse: .milliseconds(150)) { _ in }
        chime.strike()
        try await Task.sleep(for: .milliseconds(100))
        chime.strike()
        try await Task.sleep(for: .milliseconds(100))
        #expect(relay.history == [true, true])  // the first pulse's end was superseded
        #expect(await eventually { relay.history == [true, true, false] })
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

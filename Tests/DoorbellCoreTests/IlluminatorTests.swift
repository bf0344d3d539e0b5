import DoorbellCore
import DoorbellTestKit
import Logging
import ServiceLifecycle
import Testing

@Suite("IR illuminator", .timeLimit(.minutes(10)))
struct IlluminatorTests {
    struct LineGone: Error {}

    let night = IRSchedule.hours([QuietHours(startMinute: 18 * 60, endMinute: 7 * 60)])

    func illuminator(_ output: RecordingOutput, _ clock: ManualClock, schedule: IRSchedule) -> Illuminator {
        Illuminator(
            output: output, schedule: schedule, clock: clock, interval: .milliseconds(10),
            logger: Logger(label: "test"), faults: FaultLimiter(interval: .seconds(60)))
    }

    @Test("the LEDs follow the hours, switching only when the hour crosses a span's edge")
    func followsTheHours() {
        let output = RecordingOutput()
        let clock = ManualClock()
        clock.setMinuteOfDay(12 * 60)
        let ir = illuminator(output, clock, schedule: night)
        ir.update()
        #expect(output.history == [false])
        clock.setMinuteOfDay(17 * 60 + 59)
        ir.update()
        #expect(output.history == [false])
        clock.setMinuteOfDay(18 * 60)
        ir.update()
        clock.setMinuteOfDay(2 * 60)  // past midnight, still inside the wrapped span
        ir.update()
        #expect(output.history == [false, true])
        #expect(ir.isLit == true)
        clock.setMinuteOfDay(7 * 60)
        ir.update()
        #expect(output.history == [false, true, false])
    }

    @Test("a reload's new hours apply at once")
    func reloadApplies() {
        let output = RecordingOutput()
        let clock = ManualClock()
        clock.setMinuteOfDay(17 * 60)
        let ir = illuminator(output, clock, schedule: night)
        ir.update()
        ir.setSchedule(.hours([QuietHours(startMinute: 16 * 60 + 30, endMinute: 7 * 60)]))
        #expect(output.history == [false, true])
        ir.setSchedule(.hours([]))
        #expect(output.history == [false, true, false])
    }

    @Test("a line that cannot be switched is retried at the next check, not given up")
    func failureIsRetried() {
        let output = RecordingOutput()
        let clock = ManualClock()
        clock.setMinuteOfDay(23 * 60)
        let ir = illuminator(output, clock, schedule: night)
        output.fail(with: LineGone())
        ir.update()
        #expect(ir.isLit == nil)
        output.fail(with: nil)
        ir.update()
        #expect(output.history.last == true)
        #expect(ir.isLit == true)
    }

    @Test("the LEDs go off when the daemon shuts down")
    func offAtShutdown() async throws {
        let output = RecordingOutput()
        let clock = ManualClock()
        clock.setMinuteOfDay(22 * 60)
        let ir = illuminator(output, clock, schedule: night)
        let group = ServiceGroup(
            configuration: .init(services: [ir], gracefulShutdownSignals: [], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        #expect(await eventually { output.history == [true] })
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(output.history == [true, false])
    }
}

import DoorbellCore
import DoorbellTestKit
import Logging
import ServiceLifecycle
import Testing

/// An engine wired to fakes, with its dispatcher running.
struct EngineHarness {
    let chime = RecordingChime()
    let sink: ScriptedEventSink
    let clock = ManualClock()
    /// What the dispatcher's backoff sleeps on.
    let backoff = TestClock()
    let doNotDisturb: DoNotDisturb
    let dispatcher: EventDispatcher
    let engine: DoorbellEngine

    init(sink: ScriptedEventSink = ScriptedEventSink(), quietHours: [QuietHours] = []) {
        self.sink = sink
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        doNotDisturb = DoNotDisturb(schedule: quietHours)
        dispatcher = EventDispatcher(
            sink: sink, logger: logger, faults: FaultLimiter(interval: .seconds(60)), retryInitial: .milliseconds(5),
            retryMax: .milliseconds(20), clock: backoff)
        engine = DoorbellEngine(
            chime: chime, media: NoMediaCapture(), events: dispatcher, doNotDisturb: doNotDisturb, clock: clock)
    }

    /// Runs `body` with the dispatcher delivering in the background.
    func run(_ body: () async throws -> Void) async throws {
        let task = Task { await dispatcher.run() }
        defer { task.cancel() }
        try await body()
    }
}

@Suite("Doorbell engine", .timeLimit(.minutes(10)))
struct DoorbellEngineTests {
    @Test("a ring strikes the chime and delivers a ring event with an id, both times and a press count of 1")
    func ringChimesAndRecords() async throws {
        let harness = EngineHarness()
        try await harness.run {
            harness.engine.handle(.ring(at: .milliseconds(5000)))
            #expect(harness.chime.count == 1)
            #expect(await eventually { harness.sink.delivered.count == 1 })
            guard case .ring(let ring) = harness.sink.delivered.first else {
                Issue.record("expected a ring")
                return
            }
            #expect(ring.monotonic == .milliseconds(5000))
            #expect(ring.wall == harness.clock.wallNow())
            #expect(ring.pressCount == 1)
            #expect(!ring.chimeSilenced)
            #expect(ring.id.rawValue.count == 36)
        }
    }

    @Test("repeat presses are counted on the ring without chiming again")
    func repeatPressesAreCounted() async throws {
        let harness = EngineHarness()
        try await harness.run {
            harness.engine.handle(.ring(at: .milliseconds(5000)))
            harness.engine.handle(.repeatPress(at: .milliseconds(5400), pressCount: 2))
            harness.engine.handle(.repeatPress(at: .milliseconds(5800), pressCount: 3))
            #expect(await eventually { harness.sink.delivered.count == 3 })
            #expect(harness.chime.count == 1)
            let ringID = harness.sink.delivered[0].id
            #expect(harness.sink.delivered[1] == .ringPressCount(ringID: ringID, pressCount: 2))
            #expect(harness.sink.delivered[2] == .ringPressCount(ringID: ringID, pressCount: 3))
        }
    }

    @Test("a ring during do-not-disturb quiet hours is recorded but does not chime")
    func quietHoursSilenceTheChime() async throws {
        let harness = EngineHarness(quietHours: [QuietHours(startMinute: 22 * 60, endMinute: 7 * 60)])
        harness.clock.setMinuteOfDay(23 * 60 + 30)
        try await harness.run {
            harness.engine.handle(.ring(at: .milliseconds(5000)))
            #expect(await eventually { harness.sink.delivered.count == 1 })
            #expect(harness.chime.count == 0)
            guard case .ring(let ring) = harness.sink.delivered.first else { return }
            #expect(ring.chimeSilenced)
        }
    }

    @Test("the run-time do-not-disturb switch overrides the schedule both ways")
    func runTimeSwitch() async throws {
        let harness = EngineHarness(quietHours: [QuietHours(startMinute: 22 * 60, endMinute: 7 * 60)])
        harness.clock.setMinuteOfDay(12 * 60)
        harness.doNotDisturb.mode = .on
        harness.engine.handle(.ring(at: .seconds(1)))
        #expect(harness.chime.count == 0)
        harness.clock.setMinuteOfDay(23 * 60)
        harness.doNotDisturb.mode = .off
        harness.engine.handle(.ring(at: .seconds(20)))
        #expect(harness.chime.count == 1)
    }

    @Test("a long press is its own event, linked to the ring its press started")
    func longPressEvent() async throws {
        let harness = EngineHarness()
        try await harness.run {
            harness.engine.handle(.ring(at: .milliseconds(1000)))
            harness.engine.handle(.longPress(at: .milliseconds(3000)))
            #expect(await eventually { harness.sink.delivered.count == 2 })
            guard case .longPress(let press) = harness.sink.delivered.last else {
                Issue.record("expected a long press")
                return
            }
            #expect(press.ringID == harness.sink.delivered[0].id)
            #expect(press.monotonic == .milliseconds(3000))
            #expect(press.id != press.ringID)
        }
    }

    @Test("while the sink hangs, rings still chime at once, and the events arrive in order once it recovers")
    func slowSinkDoesNotDelayTheChime() async throws {
        let harness = EngineHarness(sink: ScriptedEventSink(.hang))
        try await harness.run {
            harness.engine.handle(.ring(at: .seconds(1)))
            #expect(harness.chime.count == 1)
            #expect(await eventually { harness.sink.attempts == 1 })
            harness.engine.handle(.ring(at: .seconds(20)))
            #expect(harness.chime.count == 2)
            harness.sink.become(.accept)
            // The hung attempt fails once released; the retry comes after the first backoff.
            #expect(await harness.backoff.waitForSleepers(1))
            harness.backoff.advance(by: .milliseconds(5))
            #expect(await eventually { harness.sink.delivered.count == 2 })
            #expect(harness.sink.delivered.map(\.kind) == ["ring", "ring"])
            #expect(harness.sink.delivered[0].id < harness.sink.delivered[1].id)
        }
    }

    @Test("a failing sink is retried with backoff until it accepts; nothing is dropped")
    func failingSinkIsRetried() async throws {
        let harness = EngineHarness(sink: ScriptedEventSink(.fail))
        try await harness.run {
            harness.engine.handle(.ring(at: .seconds(1)))
            #expect(harness.chime.count == 1)
            // Each retry waits twice as long as the one before (5, 10, then 20 ms at most).
            let backoff = harness.backoff
            #expect(await eventually { harness.sink.attempts == 1 && backoff.sleeping == 1 })
            backoff.advance(by: .milliseconds(4))
            #expect(harness.sink.attempts == 1)
            backoff.advance(by: .milliseconds(1))
            #expect(await eventually { harness.sink.attempts == 2 && backoff.sleeping == 1 })
            backoff.advance(by: .milliseconds(9))
            #expect(harness.sink.attempts == 2)
            backoff.advance(by: .milliseconds(1))
            #expect(await eventually { harness.sink.attempts == 3 && backoff.sleeping == 1 })
            harness.sink.become(.accept)
            backoff.advance(by: .milliseconds(20))
            #expect(await eventually { harness.sink.delivered.count == 1 })
        }
    }
}

@Suite("Quiet hours", .timeLimit(.minutes(10)))
struct QuietHoursTests {
    @Test("a span within one day and a span over midnight")
    func contains() {
        let lunch = QuietHours(startMinute: 12 * 60, endMinute: 13 * 60)
        #expect(lunch.contains(minuteOfDay: 12 * 60))
        #expect(!lunch.contains(minuteOfDay: 13 * 60))
        let night = QuietHours(startMinute: 22 * 60, endMinute: 7 * 60)
        #expect(night.contains(minuteOfDay: 23 * 60))
        #expect(night.contains(minuteOfDay: 6 * 60 + 59))
        #expect(!night.contains(minuteOfDay: 7 * 60))
        #expect(!night.contains(minuteOfDay: 21 * 60 + 59))
        #expect(night.description == "22:00-07:00")
    }
}

@Suite("Event ids", .timeLimit(.minutes(10)))
struct EventIDTests {
    @Test("ids made in the same millisecond, or after the clock stepped back, sort in creation order")
    func monotonic() {
        var ids = (0..<5000).map { _ in EventID.make(epochMilliseconds: 1_764_000_000_000) }
        ids.append(EventID.make(epochMilliseconds: 1_700_000_000_000))
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.rawValue.count == 36 && $0.rawValue.dropFirst(14).first == "7" })
    }
}

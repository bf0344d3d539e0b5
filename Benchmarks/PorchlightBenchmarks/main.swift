// The release-built benchmark executable: `swift run -c release porchlight-bench`.
// Prints one JSON object per line; speed is reported here, never asserted by tests.

import DoorbellCore
import DoorbellTestKit
import Logging
import ServiceLifecycle
import Synchronization

/// A chime that stamps each strike.
final class StampingChime: ChimeOutput {
    let stamps = Mutex<[ContinuousClock.Instant]>([])
    func strike() { stamps.withLock { $0.append(.now) } }
}

/// A sink that stamps each ring and tells the driver.
final class StampingSink: EventSink {
    let delivered: AsyncStream<ContinuousClock.Instant>.Continuation
    init(_ delivered: AsyncStream<ContinuousClock.Instant>.Continuation) { self.delivered = delivered }
    func deliver(_ event: DoorbellEvent) async throws {
        if case .ring = event { delivered.yield(.now) }
    }
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

/// One result line: `{"name": ..., "value": ..., "unit": ...}`.
func emit(_ name: String, _ value: Double, _ unit: String) {
    let rounded = (value * 1000).rounded() / 1000
    print("{\"name\": \"\(name)\", \"value\": \(rounded), \"unit\": \"\(unit)\"}")
}

func report(_ metric: String, _ samples: [Duration]) {
    let micros = samples.map { Double($0 / .nanoseconds(1)) / 1000 }.sorted()
    emit("\(metric)_p50", percentile(micros, 0.5), "us")
    emit("\(metric)_p99", percentile(micros, 0.99), "us")
}

/// Edge → chime call and edge → event at the sink, in process: from the moment an edge enters
/// the button service's stream (where the GPIO reader thread puts it) to the chime's `strike()`
/// and to the sink's `deliver`. Presses are 200 ms apart in kernel time with a ring window of
/// zero, so each one rings.
func buttonLatency(presses: Int) async throws {
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    let button = ScriptedButton()
    let chime = StampingChime()
    let (delivered, deliveredContinuation) = AsyncStream.makeStream(of: ContinuousClock.Instant.self)
    let faults = FaultLimiter(interval: .seconds(60))
    let dispatcher = EventDispatcher(sink: StampingSink(deliveredContinuation), logger: logger, faults: faults)
    let clock = ManualClock(monotonic: .seconds(1))
    let engine = DoorbellEngine(
        chime: chime, media: NoMediaCapture(), events: dispatcher, doNotDisturb: DoNotDisturb(schedule: []),
        clock: clock)
    let service = ButtonService(
        source: button, settings: .init(debounce: .milliseconds(30), longPress: .seconds(2), ringWindow: .zero),
        clock: clock, health: HealthRegistry().register("button", deadline: .seconds(3600)), logger: logger,
        faults: faults, handle: engine.handle)
    let group = ServiceGroup(services: [service, dispatcher], logger: logger)

    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        while button.openCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
        var toChime: [Duration] = []
        var toSink: [Duration] = []
        var deliveries = delivered.makeAsyncIterator()
        let origin = Duration.seconds(10)
        for press in 0..<presses {
            let at = origin + .milliseconds(200 * press)
            let start = ContinuousClock.now
            button.push(ButtonEdge(.pressed, at: at))
            guard let stored = await deliveries.next() else { break }
            toSink.append(stored - start)
            if let struck = chime.stamps.withLock({ $0.last }) { toChime.append(struck - start) }
            button.push(ButtonEdge(.released, at: at + .milliseconds(60)))
        }
        report("button_edge_to_chime", toChime)
        report("button_edge_to_event_sink", toSink)
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

/// Options: `--input FILE.mjpeg` adds the ingest cost of that file;
/// `--only motion|outbox|sync|push|mqtt|thumbnail|button|audio|sealing|access`;
/// `--presses N` for the button and sync figures.
var options: [String: String] = [:]
var words = Array(CommandLine.arguments.dropFirst())
while words.count >= 2, words[0].hasPrefix("--") {
    options[String(words[0].dropFirst(2))] = words[1]
    words.removeFirst(2)
}
if options["only"] == nil || options["only"] == "motion" {
    try motionBenchmarks(input: options["input"])
}
if options["only"] == nil || options["only"] == "outbox" {
    try outboxWrites(rings: 1000)
}
if options["only"] == nil || options["only"] == "sync" {
    try await pressToStored(presses: Int(options["presses"] ?? "") ?? 1000)
}
if options["only"] == nil || options["only"] == "push" {
    try await pressToStored(presses: Int(options["presses"] ?? "") ?? 200, push: true)
}
if options["only"] == nil || options["only"] == "mqtt" {
    try await pressToMQTT(presses: Int(options["presses"] ?? "") ?? 200)
}
if options["only"] == nil || options["only"] == "thumbnail" {
    try thumbnailBenchmarks()
}
if options["only"] == nil || options["only"] == "button" {
    try await buttonLatency(presses: Int(options["presses"] ?? "") ?? 10_000)
}
if options["only"] == nil || options["only"] == "audio" {
    echoBenchmarks()
    try await talkLatency(seconds: Int(options["seconds"] ?? "") ?? 20)
    try await talkLatency(seconds: Int(options["seconds"] ?? "") ?? 20, sealed: true)
}
if options["only"] == nil || options["only"] == "sealing" {
    try sealingBenchmarks()
    try talkAndCommandBenchmarks()
}
if options["only"] == nil || options["only"] == "access" {
    try accessLogVerification()
}

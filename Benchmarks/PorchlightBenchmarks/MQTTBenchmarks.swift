import Config
import DoorbellCore
import DoorbellTestKit
import Foundation
import HomeAutomation
import Logging
import MQTT
import ServiceLifecycle
import Uplink

#if canImport(Glibc)
    import Glibc
#endif

/// Button press → Home Assistant's `press` event received by an independent MQTT client, through
/// the daemon's real path: button service, engine, dispatcher, outbox (fsync), MQTTBridge,
/// libmosquitto over TLS (the broker's CA) with a password to Debian's mosquitto on loopback, then
/// PyPI's paho-mqtt in its own process, which stamps each message with CLOCK_MONOTONIC.
func pressToMQTT(presses: Int) async throws {
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    let directory = try TemporaryDirectory()
    let broker = try await MQTTBroker()
    var config = MQTTConfig()
    config.enabled = true
    config.host = "localhost"
    config.port = broker.tlsPort
    config.tls = true
    config.caFile = broker.caFile
    config.username = MQTTBroker.user
    config.password = MQTTBroker.password
    config.deviceID = "bench"
    let topic = MQTTTopics(config).doorbell
    let subscriber = try await MQTTSubscriber(broker: broker, topics: [topic], tls: true)

    let faults = FaultLimiter(interval: .seconds(60))
    let registry = HealthRegistry()
    let doNotDisturb = DoNotDisturb(schedule: [])
    let bridge = MQTTBridge(
        config: config, settings: try MQTTBridge.settings(config, file: "bench"), deviceName: "bench",
        version: "bench", camera: false, doNotDisturb: doNotDisturb, registry: registry,
        access: JournalAccess(logger: logger), logger: logger, faults: faults)
    let outbox = try Outbox(path: directory.path + "/outbox.sqlite")
    let dispatcher = EventDispatcher(sink: EventSinkChain([outbox, bridge]), logger: logger, faults: faults)
    let clock = ManualClock(
        monotonic: .seconds(1),
        wall: WallTime(epochMilliseconds: Int64(Date().timeIntervalSince1970 * 1000), minuteOfDay: 12 * 60))
    let engine = DoorbellEngine(
        chime: ChimeGroup([]), media: NoMediaCapture(), events: dispatcher, doNotDisturb: doNotDisturb, clock: clock)
    let button = ScriptedButton()
    let buttonService = ButtonService(
        source: button, settings: .init(debounce: .milliseconds(30), longPress: .seconds(2), ringWindow: .zero),
        clock: clock, health: registry.register("button", deadline: .seconds(3600)), logger: logger, faults: faults,
        handle: engine.handle)
    let daemon = ServiceGroup(services: [buttonService, dispatcher, bridge], logger: logger)
    let daemonTask = Task { try await daemon.run() }
    while button.openCount == 0 { try await Task.sleep(for: .milliseconds(1)) }
    while !registry.statusLine().contains("running") || registry.statusLine().contains("mqtt degraded") {
        try await Task.sleep(for: .milliseconds(10))
    }

    var latencies: [Duration] = []
    for press in 0..<(presses + 20) {
        let at = Duration.seconds(10) + .milliseconds(200 * press)
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let start = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        button.push(ButtonEdge(.pressed, at: at))
        while subscriber.messages(topic).count <= press { try await Task.sleep(for: .microseconds(200)) }
        let received = try require(subscriber.messages(topic).last?["at"] as? Double, "a receipt time")
        // The first ones warm up TLS and SQLite.
        if press >= 20 { latencies.append(.microseconds(Int64((received - start) * 1e6))) }
        button.push(ButtonEdge(.released, at: at + .milliseconds(60)))
    }
    report("button_press_to_mqtt_press_received", latencies)
    await daemon.triggerGracefulShutdown()
    _ = try? await daemonTask.value
    await subscriber.stop()
    await broker.stop()
}

/// `#require` outside a test: a missing value ends the benchmark with a message.
func require<T>(_ value: T?, _ what: String = "a value") throws -> T {
    guard let value else { throw SetupFailure("the benchmark expected \(what)") }
    return value
}

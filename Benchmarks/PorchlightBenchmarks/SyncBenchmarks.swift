import DoorbellCore
import DoorbellTestKit
import Foundation
import Logging
import Crypto
import JPEG
import Privacy
import WebPush
import ServiceLifecycle
import SyncModule
import SyncStorage
import SyncProtocol
import Synchronization
import Uplink

/// Button press → event stored at a sync module on loopback, through the whole real path: button
/// service, engine, dispatcher, outbox (fsync), uplink (signed HTTPS with the pinned certificate),
/// the sync module's verification and its SQLite commit (fsync). With `push`, on to a push
/// service: the sync module's notifier encrypts the ring for a subscribed browser (RFC 8291) and
/// posts it to the tests' push endpoint on loopback (Python, PyPI's http-ece), which decrypts it;
/// the time is when its line reaches the benchmark.
func pressToStored(presses: Int, push: Bool = false) async throws {
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    let directory = NSTemporaryDirectory() + "porchlight-bench-sync-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }

    let store = try SQLiteSyncStore(path: directory + "/sync.sqlite")
    let feed = EventFeed()
    let arrivals = feed.subscribe()
    let identity = try ServerIdentity.loadOrCreate(directory: directory, hostnames: ["localhost"])
    let device = try DeviceIdentity()
    try store.addPairingCode("BENCH-CODE", expiresAt: unixMilliseconds() + 60_000)
    _ = try store.pair(code: "BENCH-CODE", publicKey: device.publicKey, name: "bench", now: unixMilliseconds())
    let port = Mutex(0)
    let app = try SyncServer.application(
        api: SyncAPI(store: store, feed: feed, logger: logger), identity: identity, host: "127.0.0.1", port: 0,
        logger: logger
    ) { bound in port.withLock { $0 = bound } }
    var services: [any Service] = [app]
    var pushEndpoint: PushEndpoint?
    if push {
        let browser = P256.KeyAgreement.PrivateKey()
        let auth = Data((0..<16).map { _ in UInt8.random(in: 0...255) })
        let endpoint = try PushEndpoint(browserKey: browser.rawRepresentation, auth: auth)
        pushEndpoint = endpoint
        _ = try store.savePushSubscription(
            PushSubscriptionRecord(
                id: "bench", owner: "bench", label: "bench", endpoint: endpoint.url("bench"),
                p256dh: Base64URL.encode(browser.publicKey.x963Representation), auth: Base64URL.encode(auth),
                createdAt: unixMilliseconds()))
        services.append(
            PushNotifier(
                store: store, feed: feed, key: VAPIDKey(), subject: "mailto:bench@example.org", allowHTTP: true,
                logger: logger))
    }
    let server = ServiceGroup(services: services, logger: logger)
    let serverTask = Task { try await server.run() }
    while port.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(5)) }

    let faults = FaultLimiter(interval: .seconds(60))
    let outbox = try Outbox(path: directory + "/outbox.sqlite")
    let dispatcher = EventDispatcher(sink: outbox, logger: logger, faults: faults)
    // Today's wall time: the notifier does not push a ring older than its time to live.
    let clock = ManualClock(
        monotonic: .seconds(1), wall: WallTime(epochMilliseconds: unixMilliseconds(), minuteOfDay: 12 * 60))
    let engine = DoorbellEngine(
        chime: ChimeGroup([]), media: NoMediaCapture(), events: dispatcher, doNotDisturb: DoNotDisturb(schedule: []),
        clock: clock)
    let button = ScriptedButton()
    let registry = HealthRegistry()
    let buttonService = ButtonService(
        source: button, settings: .init(debounce: .milliseconds(30), longPress: .seconds(2), ringWindow: .zero),
        clock: clock, health: registry.register("button", deadline: .seconds(3600)), logger: logger, faults: faults,
        handle: engine.handle)
    let uplink = UplinkService(
        outbox: outbox,
        pairing: PairingRecord(
            url: "https://localhost:\(port.withLock { $0 })", certificatePEM: identity.certificatePEM,
            fingerprint: identity.fingerprint, deviceID: device.deviceID),
        identity: device, health: registry.register("uplink", deadline: .seconds(3600)), logger: logger,
        faults: faults, retry: .milliseconds(10) ... .milliseconds(100))
    let daemon = ServiceGroup(services: [buttonService, dispatcher, uplink], logger: logger)
    let daemonTask = Task { try await daemon.run() }
    while button.openCount == 0 { try await Task.sleep(for: .milliseconds(1)) }

    var latencies: [Duration] = []
    let stored = arrivals.filter {
        if case .event(let stored) = $0 { stored.event.kind == .ring } else { false }
    }.map { _ in ContinuousClock.now }
    var iterator =
        pushEndpoint.map { AnyAsyncSequence($0.arrivals).makeAsyncIterator() }
        ?? AnyAsyncSequence(stored).makeAsyncIterator()
    for press in 0..<(presses + 20) {
        let at = Duration.seconds(10) + .milliseconds(200 * press)
        let start = ContinuousClock.now
        button.push(ButtonEdge(.pressed, at: at))
        guard let arrived = try await iterator.next() else { break }
        if press >= 20 { latencies.append(arrived - start) }  // the first ones warm up TLS and SQLite
        button.push(ButtonEdge(.released, at: at + .milliseconds(60)))
    }
    report(push ? "button_press_to_push_received" : "button_press_to_stored_at_sync", latencies)
    await pushEndpoint?.stop()
    await daemon.triggerGracefulShutdown()
    await server.triggerGracefulShutdown()
    _ = try? await daemonTask.value
    _ = try? await serverTask.value
}

/// Verifying an access log of 10 000 entries, as the owner's Access log page does on each view:
/// the first view checks every Ed25519 signature, later views only hash the entries and check
/// the signatures they have not seen.
func accessLogVerification(entries: Int = 10_000) throws {
    // Any 32 bytes are an Ed25519 private key (its seed).
    let signer = try AccessSigner(log: "sync", privateKeyBytes: Data((0..<32).map { _ in UInt8.random(in: 0...255) }))
    var records: [AccessRecord] = []
    for index in 1...entries {
        records.append(
            try signer.entry(
                after: records.last, at: 1_764_000_000_000 + Int64(index), actor: "owner:ann", action: "clip-view",
                device: "d1", detail: "clip \(index)", source: "web"))
    }
    let verified = VerifiedSignatures()
    var began = ContinuousClock.now
    _ = AccessLogVerifier.verify(records, log: "sync", publicKey: signer.publicKey, verified: verified)
    emit("access_log_verify_10k_first_view", Double((ContinuousClock.now - began) / .microseconds(1)) / 1000, "ms")
    began = ContinuousClock.now
    _ = AccessLogVerifier.verify(records, log: "sync", publicKey: signer.publicKey, verified: verified)
    emit("access_log_verify_10k_later_view", Double((ContinuousClock.now - began) / .microseconds(1)) / 1000, "ms")
}

/// Either stream of instants, as one type.
struct AnyAsyncSequence<Element>: AsyncSequence {
    let make: () -> AsyncIterator

    init<S: AsyncSequence>(_ base: S) where S.Element == Element {
        make = {
            var iterator = base.makeAsyncIterator()
            return AsyncIterator { try await iterator.next() }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { make() }

    struct AsyncIterator: AsyncIteratorProtocol {
        let step: () async throws -> Element?
        mutating func next() async throws -> Element? { try await step() }
    }
}

/// A notification thumbnail as the doorbell makes it on a ring: the 640×480 frame of the bundled
/// footage scaled to 320×240 inside the IDCT and encoded again, then sealed for two owner keys
/// (a phone and the recovery key) and two browsers' notification keys. Its size is what the
/// service worker fetches.
func thumbnailBenchmarks() throws {
    let footage = try [UInt8](Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/demo/porch_640x480.mjpeg")))
    guard let first = MJPEGSplitter.frames(in: footage).first else { return }
    let frame = Array(footage[first])
    let thumbnailer = try JPEGThumbnailer()
    let keys = (0..<4).map { _ in OwnerKey().publicKey }
    var making: [Duration] = []
    var sealing: [Duration] = []
    var size = 0
    for index in 0..<300 {
        let began = ContinuousClock.now
        let thumbnail = try thumbnailer.thumbnail(frame)
        let made = ContinuousClock.now
        size = try MediaSealer.seal(thumbnail, media: "e\(index)-thumbnail", kind: "thumbnail", for: keys).count
        sealing.append(.now - made)
        making.append(made - began)
    }
    report("thumbnail_make_640x480_to_320x240", making)
    report("thumbnail_seal_4_keys", sealing)
    emit("thumbnail_sealed_size", Double(size), "bytes")
}

import Config
import DoorbellCore
import DoorbellTestKit
import Foundation
import JPEG
import Logging
import Motion
import Synchronization
import ServiceLifecycle
import Testing

@testable import Media

@Suite("Camera pipeline on the bundled footage", .timeLimit(.minutes(10)))
struct CameraPipelineTests {
    @Test("a ring stores a snapshot and a clip whose every frame has the privacy mask black; motion is reported")
    func ringSnapshotAndClipAreMasked() async throws {
        let directory = try TemporaryDirectory()
        var privacy = Config().privacy
        privacy.masks = [
            Polygon(name: "window", points: [.init(x: 400, y: 40), .init(x: 600, y: 40), .init(x: 600, y: 240)])
        ]
        let rig = try PipelineRig(directory: directory, fps: 40, privacy: privacy)
        let (pipeline, store, registry, sink, group) = (rig.pipeline, rig.store, rig.registry, rig.sink, rig.group)
        let ring = EventID.make(epochMilliseconds: 1)

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await eventually { registry.snapshot().first?.state == .ok })
            try await Task.sleep(for: .seconds(1.5))  // fill the pre-roll
            pipeline.captureEvent(ring, at: SystemClock().monotonicNow())
            #expect(
                await eventually(timeout: .seconds(30)) {
                    FileManager.default.fileExists(atPath: store.clipPath(ring, sealed: false))
                }
            )
            #expect(await eventually(timeout: .seconds(30)) { sink.delivered.contains { $0.kind == "motion-started" } })
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }

        let mask = PrivacyMask(
            polygons: [FramePolygon(name: "window", points: [(400, 40), (600, 40), (600, 240)])], frameWidth: 640,
            frameHeight: 480)
        let decoder = try JPEGDecoder()
        func assertMasked(_ jpeg: [UInt8], _ what: String) throws {
            let plane = try decoder.decodeGrey(jpeg, denominator: 1)
            for y in stride(from: 0, to: 480, by: 3) {
                for x in stride(from: 0, to: 640, by: 3) where mask.covers(x: x, y: y) && plane[x, y] > 4 {
                    Issue.record("\(what): pixel (\(x), \(y)) under the mask is \(plane[x, y])")
                    return
                }
            }
        }
        let snapshot = try [UInt8](
            #require(FileManager.default.contents(atPath: store.snapshotPath(ring, sealed: false))))
        try assertMasked(snapshot, "snapshot")
        let clip = try ClipFile.read(
            [UInt8](#require(FileManager.default.contents(atPath: store.clipPath(ring, sealed: false)))))
        #expect(clip.header.eventID == ring.rawValue)
        #expect(!clip.truncated)
        // Pre-roll (1 s) plus post-roll (0.5 s) at 40 fps, give or take scheduling.
        #expect(clip.frames.count >= 30, "clip frames: \(clip.frames.count)")
        for (index, frame) in clip.frames.enumerated() { try assertMasked(frame.bytes, "clip frame \(index)") }
        #expect(clip.frames.first.map { clip.frames.last!.timestamp - $0.timestamp >= .milliseconds(1200) } == true)
        #expect(clip.header.width == 640 && clip.header.height == 480)
    }

    @Test("a camera that cannot be opened is reported degraded and retried after its backoff; nothing crashes")
    func missingCamera() async throws {
        let directory = try TemporaryDirectory()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let faults = FaultLimiter(interval: .seconds(60))
        let registry = HealthRegistry()
        var settings = CameraPipelineSettings(
            camera: Config().camera, motion: Config().motion, privacy: Config().privacy)
        settings.reconnect = .milliseconds(10) ... .milliseconds(20)
        let source = CountingSource(
            FileCamera(path: directory.path + "/absent.mjpeg", fps: 10, realtime: true, loop: false))
        let timer = TestClock()
        let pipeline = CameraPipeline(
            source: source, settings: settings, clock: SystemClock(),
            health: registry.register("camera", deadline: .seconds(10)),
            events: EventDispatcher(sink: ScriptedEventSink(), logger: logger, faults: faults),
            store: try MediaStore(directory: directory.path, maxBytes: 1 << 20), logger: logger, faults: faults,
            timer: timer)
        let group = ServiceGroup(services: [pipeline], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(
                await eventually {
                    if case .degraded = registry.snapshot().first?.state { timer.sleeping == 1 } else { false }
                })
            #expect(source.opens == 1)
            // The first wait is 5 to 10 ms: not over after 4, over after 20; each later one at most 20.
            timer.advance(by: .milliseconds(4))
            #expect(source.opens == 1 && timer.sleeping == 1)
            timer.advance(by: .milliseconds(16))
            #expect(await eventually { source.opens == 2 && timer.sleeping == 1 })
            for round in 3...6 {
                timer.advance(by: .milliseconds(20))
                #expect(await eventually { source.opens == round && timer.sleeping == 1 }, "\(source.opens)")
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

/// A camera pipeline on the looping test footage (pre-roll 1 s, post-roll 0.5 s) with its
/// dispatcher, media store and health registry.
struct PipelineRig {
    let store: MediaStore
    let registry: HealthRegistry
    let sink: ScriptedEventSink
    let pipeline: CameraPipeline
    let group: ServiceGroup

    init(directory: TemporaryDirectory, fps: Int, privacy: PrivacyConfig = Config().privacy, audio: AudioRing? = nil)
        throws
    {
        var camera = Config().camera
        camera.preRoll = .seconds(1)
        camera.postRoll = .milliseconds(500)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let faults = FaultLimiter(interval: .seconds(60))
        let sink = ScriptedEventSink()
        let dispatcher = EventDispatcher(sink: sink, logger: logger, faults: faults)
        let store = try MediaStore(directory: directory.path, maxBytes: 1 << 30)
        let registry = HealthRegistry()
        var settings = CameraPipelineSettings(camera: camera, motion: Config().motion, privacy: privacy)
        settings.audio = audio
        let pipeline = CameraPipeline(
            source: FileCamera(path: "\(footageDirectory)/vtest_640x480.mjpeg", fps: fps, realtime: true, loop: true),
            settings: settings, clock: SystemClock(), health: registry.register("camera", deadline: .seconds(10)),
            events: dispatcher, store: store, logger: logger, faults: faults)
        (self.store, self.registry, self.sink, self.pipeline) = (store, registry, sink, pipeline)
        group = ServiceGroup(services: [pipeline, dispatcher], logger: logger)
    }
}

@Suite("Frames waiting for the camera pipeline", .timeLimit(.minutes(10)))
struct FrameBacklogTests {
    @Test("at most two frames wait; the rest are dropped and counted until the pipeline catches up")
    func bounded() {
        let backlog = FrameBacklog()
        #expect(backlog.admit() && backlog.admit())
        #expect(!backlog.admit() && !backlog.admit())
        #expect(backlog.dropped == 2)
        backlog.done()
        #expect(backlog.admit())
        #expect(!backlog.admit())
        #expect(backlog.dropped == 3)
    }
}

/// A camera that counts how often it was opened.
final class CountingSource: FrameSource {
    let base: any FrameSource
    private let count = Mutex(0)

    init(_ base: any FrameSource) { self.base = base }

    var opens: Int { count.withLock { $0 } }

    func frames() throws -> AsyncThrowingStream<Frame, any Error> {
        count.withLock { $0 += 1 }
        return try base.frames()
    }
}

import Config
import DoorbellCore
import DoorbellTestKit
import Foundation
import Logging
import ServiceLifecycle
import Testing

@testable import Media

/// Audio in clips, which only the owner turns on (`privacy.bystander_audio`).
@Suite(.timeLimit(.minutes(10))) struct ClipAudioTests {
    /// 2 s of video at 10 fps and of audio in 20 ms chunks, each chunk arriving 40 ms late as the
    /// microphone's does: read back on one timeline, and ffprobe sees a 16 kHz mono PCM stream
    /// beside the video.
    @Test("a clip with audio carries a PCM track in sync with the video, which ffprobe opens")
    func audioTrack() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/clip.mkv"
        let writer = try ClipWriter(
            path: path, header: ClipFile.Header(eventID: "01a2-audio", width: 640, height: 480, audio: true))
        let jpegs = try loadFrames("vtest_640x480.mjpeg")
        let start = Duration.seconds(5000)
        var sent: [(Duration, [Int16])] = []
        var nextChunk = 0
        for index in 0..<20 {
            let time = start + .milliseconds(100 * index)
            // The chunks recorded up to 40 ms before this frame have arrived by now.
            while start + .milliseconds(20 * nextChunk) + .milliseconds(40) <= time {
                let chunkTime = start + .milliseconds(20 * nextChunk)
                let samples = (0..<320).map { Int16(truncatingIfNeeded: nextChunk * 1000 + $0) }
                try writer.appendAudio(samples, at: chunkTime)
                sent.append((chunkTime - start, samples))
                nextChunk += 1
            }
            try writer.append(
                Frame(
                    bytes: jpegs[index], format: .mjpeg, width: 640, height: 480, timestamp: time,
                    sequence: UInt64(index)))
        }
        try writer.finish()

        let clip = try ClipFile.read([UInt8](#require(FileManager.default.contents(atPath: path))))
        #expect(clip.header.audio)
        #expect(!clip.truncated)
        #expect(clip.frames.count == 20)
        #expect(clip.audio.count == sent.count)
        #expect(clip.audio.map(\.timestamp) == sent.map(\.0))
        #expect(clip.audio.map(\.samples) == sent.map(\.1))
        // The audio covers the video: its last chunk starts within 60 ms of the last frame.
        let lastFrame = try #require(clip.frames.last?.timestamp)
        let lastAudio = try #require(clip.audio.last?.timestamp)
        #expect(lastFrame - lastAudio <= .milliseconds(60))

        #expect(try ffprobe(path, stream: "a:0", fields: "codec_name,sample_rate,channels") == "pcm_s16le,16000,1")
        #expect(try ffprobe(path, stream: "v:0", fields: "codec_name,width,height") == "mjpeg,640,480")
    }

    @Test("without the owner's consent a clip has no audio track")
    func silentByDefault() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/clip.mkv"
        let writer = try ClipWriter(path: path, header: ClipFile.Header(eventID: "x", width: 640, height: 480))
        try writer.append(
            Frame(
                bytes: try loadFrames("vtest_640x480.mjpeg")[0], format: .mjpeg, width: 640, height: 480,
                timestamp: .seconds(1), sequence: 0))
        try writer.finish()
        #expect(try ffprobe(path, stream: "a", fields: "codec_name") == "")
        #expect(try ClipFile.read([UInt8](#require(FileManager.default.contents(atPath: path)))).header.audio == false)
    }

    /// The pipeline on footage with an audio ring fed in real time: a ring's clip holds the
    /// microphone from the pre-roll on, on the frames' clock.
    @Test("a ring's clip takes the microphone's audio from the ring buffer, pre-roll included")
    func pipelineRecordsAudio() async throws {
        let directory = try TemporaryDirectory()
        let ring = AudioRing(keep: .seconds(3))
        let rig = try PipelineRig(directory: directory, fps: 20, audio: ring)
        let (pipeline, store, registry, group) = (rig.pipeline, rig.store, rig.registry, rig.group)
        // The microphone: a 20 ms chunk for every 20 ms that passed, stamped when it began. Like a
        // real capture device, it buffers: a read that comes late (a busy machine) gets every
        // chunk since the last one, not a gap.
        let microphone = Task {
            let start = SystemClock().monotonicNow()
            var index = 0
            while !Task.isCancelled {
                while start + .milliseconds(20) * (index + 1) <= SystemClock().monotonicNow() {
                    ring.append(
                        .init(
                            samples: [Int16](repeating: Int16(index % 1000), count: 320),
                            timestamp: start + .milliseconds(20) * index))
                    index += 1
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        defer { microphone.cancel() }
        let event = EventID.make(epochMilliseconds: 2)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            #expect(await eventually { registry.snapshot().first?.state == .ok })
            try await Task.sleep(for: .seconds(1.5))
            pipeline.captureEvent(event, at: SystemClock().monotonicNow())
            #expect(
                await eventually(timeout: .seconds(30)) {
                    FileManager.default.fileExists(atPath: store.clipPath(event, sealed: false))
                })
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        let clip = try ClipFile.read(
            [UInt8](#require(FileManager.default.contents(atPath: store.clipPath(event, sealed: false)))))
        #expect(clip.header.audio)
        let video = try #require(clip.frames.last?.timestamp)
        let audio = clip.audio.reduce(Duration.zero) { $0 + .milliseconds($1.samples.count / 16) }
        // About as much audio as video (1.5 s), starting with the clip and in order.
        #expect(audio >= video - .milliseconds(200), "audio \(audio) for video \(video)")
        #expect(clip.audio.first.map { $0.timestamp <= .milliseconds(40) } == true)
        #expect(clip.audio.map(\.timestamp) == clip.audio.map(\.timestamp).sorted())
    }

    func ffprobe(_ path: String, stream: String, fields: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ffprobe")
        process.arguments = [
            "-v", "error", "-select_streams", stream, "-show_entries", "stream=\(fields)", "-of", "csv=p=0", path,
        ]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        return String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

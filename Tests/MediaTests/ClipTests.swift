import DoorbellCore
import DoorbellTestKit
import Foundation
import JPEG
import Testing

@testable import Media

func frame(_ bytes: [UInt8], at ms: Int, sequence: UInt64 = 0) -> Frame {
    Frame(bytes: bytes, format: .mjpeg, width: 640, height: 480, timestamp: .milliseconds(ms), sequence: sequence)
}

@Suite("Pre-roll buffer", .timeLimit(.minutes(10)))
struct PreRollTests {
    @Test("the buffer holds at most its time span of frames")
    func timeBound() {
        var buffer = PreRollBuffer(maxDuration: .seconds(6), maxBytes: 1 << 30)
        for index in 0..<300 { buffer.append(frame([1, 2, 3], at: index * 66)) }
        #expect(buffer.span <= .seconds(6))
        #expect(buffer.span >= .milliseconds(5900))
        #expect(buffer.frames.last?.timestamp == .milliseconds(299 * 66))
    }

    @Test("a burst of large frames stays within the byte bound and keeps the newest frames")
    func byteBound() {
        var buffer = PreRollBuffer(maxDuration: .seconds(6), maxBytes: 1_000_000)
        for index in 0..<100 { buffer.append(frame([UInt8](repeating: 1, count: 20_000), at: index * 66)) }
        for index in 100..<140 { buffer.append(frame([UInt8](repeating: 2, count: 300_000), at: index * 66)) }
        #expect(buffer.byteCount <= 1_000_000)
        #expect(buffer.byteCount == buffer.frames.reduce(0) { $0 + $1.bytes.count })
        #expect(buffer.count == 3)
        #expect(buffer.frames.last?.timestamp == .milliseconds(139 * 66))
        let oversized = frame([UInt8](repeating: 3, count: 2_000_000), at: 140 * 66)
        buffer.append(oversized)
        #expect(buffer.oversized == 1)
        #expect(buffer.byteCount <= 1_000_000)
    }

    @Test("frames since a time, and the frame nearest a time")
    func lookups() {
        var buffer = PreRollBuffer(maxDuration: .seconds(6), maxBytes: 1 << 20)
        for index in 0..<10 { buffer.append(frame([UInt8(index)], at: index * 100)) }
        #expect(buffer.frames(since: .milliseconds(650)).map { $0.bytes[0] } == [7, 8, 9])
        #expect(buffer.nearest(to: .milliseconds(420))?.bytes == [4])
        #expect(buffer.nearest(to: .milliseconds(480))?.bytes == [5])
    }
}

@Suite("Clip files (Matroska, MJPEG)", .timeLimit(.minutes(10)))
struct ClipFileTests {
    @Test("a cluster time past Int64 (found by fuzzing) ends the clip there instead of trapping")
    func clusterTimeOverflow() throws {
        let path =
            #filePath.components(separatedBy: "/Tests/")[0] + "/Tests/Fuzz/regressions/clip/cluster-time-overflow"
        let bytes = try #require(FileManager.default.contents(atPath: path))
        let contents = try ClipFile.read(Array(bytes))
        #expect(contents.truncated)
    }

    /// Writes the first `count` vtest frames 100 ms apart; returns the file and each frame's end offset.
    func writeClip(_ directory: TemporaryDirectory, count: Int) throws -> (path: String, frames: [[UInt8]], ends: [Int])
    {
        let frames = try Array(loadFrames("vtest_640x480.mjpeg")[0..<count])
        let path = directory.path + "/clip.mkv"
        let writer = try ClipWriter(path: path, header: ClipFile.Header(eventID: "01a2-test", width: 640, height: 480))
        var ends: [Int] = []
        for (index, jpeg) in frames.enumerated() {
            try writer.append(frame(jpeg, at: 5000 + index * 100))
            ends.append(writer.byteCount)
        }
        try writer.finish()
        return (path, frames, ends)
    }

    @Test("a finished clip reads back whole, with its header and frame times")
    func roundTrip() throws {
        let directory = try TemporaryDirectory()
        let (path, frames, _) = try writeClip(directory, count: 25)
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
        let clip = try ClipFile.read([UInt8](#require(FileManager.default.contents(atPath: path))))
        #expect(clip.header == ClipFile.Header(eventID: "01a2-test", width: 640, height: 480))
        #expect(!clip.truncated)
        #expect(clip.frames.map(\.bytes) == frames)
        #expect(clip.frames.map(\.timestamp) == (0..<25).map { .milliseconds($0 * 100) })
    }

    @Test("a clip truncated at any byte offset still yields every frame completed before the cut")
    func truncatedClipsDecode() throws {
        let directory = try TemporaryDirectory()
        let (path, _, ends) = try writeClip(directory, count: 12)
        let bytes = try [UInt8](#require(FileManager.default.contents(atPath: path)))
        var rng = SystemRandomNumberGenerator()
        let decoder = try JPEGDecoder()
        let headerSize = ClipFile.headerBytes(ClipFile.Header(eventID: "01a2-test", width: 640, height: 480)).count
        for _ in 0..<40 {
            let cut = Int.random(in: headerSize..<bytes.count, using: &rng)
            let clip = try ClipFile.read(Array(bytes[..<cut]))
            #expect(clip.frames.count == ends.filter { $0 <= cut }.count, "cut at \(cut)")
            if let last = clip.frames.last { _ = try decoder.decodeGrey(last.bytes, denominator: 8) }
        }
    }

    @Test("a tail of zeros, as a power cut can leave, ends the clip at the last complete frame")
    func zeroTail() throws {
        let directory = try TemporaryDirectory()
        let (path, _, ends) = try writeClip(directory, count: 6)
        var bytes = try [UInt8](#require(FileManager.default.contents(atPath: path)))
        for index in (ends[2] + 10)..<bytes.count { bytes[index] = 0 }
        let clip = try ClipFile.read(bytes)
        #expect(clip.frames.count == 3)
        #expect(clip.truncated)
    }

    @Test("after a crash mid-clip, the store keeps the partial clip's frames under its final name")
    func recoveryAfterCrash() throws {
        let directory = try TemporaryDirectory()
        let store = try MediaStore(directory: directory.path, maxBytes: 1 << 30)
        let id = EventID.make(epochMilliseconds: 1_764_000_000_000)
        var writer: ClipWriter? = try ClipWriter(
            path: store.clipPath(id), header: ClipFile.Header(eventID: id.rawValue, width: 640, height: 480))
        for (index, jpeg) in try loadFrames("vtest_640x480.mjpeg")[0..<5].enumerated() {
            try writer?.append(frame(jpeg, at: index * 100))
        }
        writer = nil  // the process died: no finish()
        #expect(FileManager.default.fileExists(atPath: store.clipPath(id) + ".partial"))
        #expect(
            FileManager.default.createFile(atPath: store.snapshotPath(id) + ".partial", contents: Data([0xFF, 0xD8])))

        let restarted = try MediaStore(directory: directory.path, maxBytes: 1 << 30)
        let clip = try ClipFile.read([UInt8](#require(FileManager.default.contents(atPath: restarted.clipPath(id)))))
        #expect(clip.frames.count == 5)
        #expect(!FileManager.default.fileExists(atPath: restarted.snapshotPath(id) + ".partial"))
    }

    @Test("ffprobe (the ffmpeg that players build on) opens the clip, whole and truncated")
    func commonPlayersOpenIt() throws {
        let directory = try TemporaryDirectory()
        let (path, _, ends) = try writeClip(directory, count: 20)
        #expect(try ffprobe(path) == "mjpeg,640,480,20")
        let bytes = try [UInt8](#require(FileManager.default.contents(atPath: path)))
        let cut = directory.path + "/cut.mkv"
        #expect(FileManager.default.createFile(atPath: cut, contents: Data(bytes[..<(ends[9] + 500)])))
        #expect(try ffprobe(cut) == "mjpeg,640,480,10")
    }

    /// Codec, size and the frames ffprobe decodes from the video stream.
    func ffprobe(_ path: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ffprobe")
        process.arguments = [
            "-v", "error", "-count_frames", "-select_streams", "v:0",
            "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", path,
        ]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

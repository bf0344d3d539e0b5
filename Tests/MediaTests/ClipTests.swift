import DoorbellCore
import DoorbellTestKit
import Foundation
import Testing

@testable import Media

func frame(_ bytes: [UInt8], at ms: Int, sequence: UInt64 = 0) -> Frame {
    Frame(bytes: bytes, format: .mjpeg, width: 640, height: 480, timestamp: .milliseconds(ms), sequence: sequence)
}

@Suite("Pre-roll buffer")
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

@Suite("Clip files")
struct ClipFileTests {
    @Test("CRC-32 matches the standard check value")
    func crc() {
        #expect(CRC32.checksum(Array("123456789".utf8)[...]) == 0xCBF4_3926)
    }

    @Test("a clip truncated at any byte offset still yields every frame completed before the cut")
    func truncatedClipsDecode() throws {
        let directory = try TemporaryDirectory()
        let frames = try Array(loadFrames("vtest_640x480.mjpeg")[0..<12])
        let path = directory.path + "/clip.plclip"
        let writer = try ClipWriter(
            path: path, header: ClipFile.Header(eventID: "01a2-test", format: .mjpeg, width: 640, height: 480))
        var ends: [Int] = []
        for (index, jpeg) in frames.enumerated() {
            try writer.append(frame(jpeg, at: index * 100))
            ends.append(writer.byteCount)
        }
        try writer.finish()
        let bytes = try [UInt8](#require(FileManager.default.contents(atPath: path)))
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))

        let whole = try ClipFile.read(bytes)
        #expect(whole.header == ClipFile.Header(eventID: "01a2-test", format: .mjpeg, width: 640, height: 480))
        #expect(whole.frames.count == 12 && !whole.truncated)
        #expect(whole.frames.map(\.bytes) == frames)

        var rng = SystemRandomNumberGenerator()
        let decoder = try JPEGDecoder()
        let headerSize = ClipFile.headerBytes(whole.header).count
        for _ in 0..<40 {
            let cut = Int.random(in: headerSize..<bytes.count, using: &rng)
            let clip = try ClipFile.read(Array(bytes[..<cut]))
            let complete = ends.filter { $0 <= cut }.count
            #expect(clip.frames.count == complete, "cut at \(cut)")
            #expect(clip.truncated == (cut != ends.last && !ends.contains(cut)))
            if let last = clip.frames.last {
                _ = try decoder.decodeGrey(last.bytes, denominator: 8)
            }
        }
    }

    @Test("a damaged record ends the clip there instead of passing on garbage")
    func corruptRecord() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/clip.plclip"
        let writer = try ClipWriter(path: path, header: .init(eventID: "e", format: .mjpeg, width: 2, height: 2))
        for index in 0..<3 { try writer.append(frame([UInt8](repeating: UInt8(index), count: 100), at: index)) }
        try writer.finish()
        var bytes = try [UInt8](#require(FileManager.default.contents(atPath: path)))
        bytes[bytes.count - 150] ^= 0xFF  // inside the second frame's bytes
        let clip = try ClipFile.read(bytes)
        #expect(clip.frames.count == 1)
        #expect(clip.truncated)
    }
}

import DoorbellCore
import Foundation
import JPEG

/// A camera that plays an MJPEG file (concatenated JPEGs, like `../shared/footage/*.mjpeg`): at
/// its nominal frame rate or as fast as possible, once or in a loop. For the demo and for tests;
/// it stands behind the same `FrameSource` as the V4L2 camera.
public struct FileCamera: FrameSource {
    public struct OpenError: Error, CustomStringConvertible {
        public var description: String
    }

    let path: String
    let fps: Int
    let realtime: Bool
    let loop: Bool
    let clock: any DoorbellClock

    public init(path: String, fps: Int, realtime: Bool, loop: Bool, clock: any DoorbellClock = SystemClock()) {
        self.path = path
        self.fps = fps
        self.realtime = realtime
        self.loop = loop
        self.clock = clock
    }

    public func frames() throws -> AsyncThrowingStream<Frame, any Error> {
        // Index the file once, then read each frame when it is due: memory holds one frame, not
        // the whole file, as with a real camera.
        guard let file = FileHandle(forReadingAtPath: path) else {
            throw OpenError(description: "cannot read the camera file \(path)")
        }
        let ranges = try Self.index(file)
        guard let first = ranges.first else { throw OpenError(description: "no JPEG frames in \(path)") }
        let size = try JPEGDecoder().size(of: Self.read(file, first))
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: Frame.self, bufferingPolicy: .bufferingNewest(2))
        let period = Duration.seconds(1) / fps
        let producer = Task { [clock, realtime, loop, path] in
            defer { try? file.close() }
            var sequence: UInt64 = 0
            var due = clock.monotonicNow()
            repeat {
                for range in ranges {
                    if realtime {
                        let wait = due - clock.monotonicNow()
                        if wait > .zero { try? await Task.sleep(for: wait) }
                        due += period
                    }
                    if Task.isCancelled { break }
                    let jpeg: [UInt8]
                    do {
                        jpeg = try Self.read(file, range)
                    } catch {
                        continuation.finish(throwing: OpenError(description: "cannot read \(path): \(error)"))
                        return
                    }
                    continuation.yield(
                        Frame(
                            bytes: jpeg, format: .mjpeg, width: size.width, height: size.height,
                            timestamp: clock.monotonicNow(), sequence: sequence))
                    sequence += 1
                    if !realtime { await Task.yield() }
                }
            } while loop && !Task.isCancelled
            continuation.finish()
        }
        continuation.onTermination = { _ in producer.cancel() }
        return stream
    }

    /// The byte ranges of the JPEGs in the file, found by reading it in chunks (memchr finds the
    /// 0xFF marker bytes, so this is quick even in a debug build).
    static func index(_ file: FileHandle) throws -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var offset = 0
        var start: Int?
        var carry = false  // the previous chunk ended with 0xFF
        while let chunk = try file.read(upToCount: 1 << 20), !chunk.isEmpty {
            chunk.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                func marker(_ code: UInt8, at position: Int) {
                    if code == 0xD8 && start == nil { start = position }
                    if code == 0xD9, let begin = start {
                        ranges.append(begin..<(position + 2))
                        start = nil
                    }
                }
                if carry, let first = bytes.first { marker(first, at: offset - 1) }
                var cursor = 0
                while cursor < bytes.count,
                    let found = memchr(bytes.baseAddress! + cursor, 0xFF, bytes.count - cursor)
                {
                    let index = bytes.baseAddress!.distance(to: UnsafeRawPointer(found))
                    if index + 1 < bytes.count { marker(bytes[index + 1], at: offset + index) }
                    cursor = index + 1
                }
                carry = bytes.last == 0xFF
            }
            offset += chunk.count
        }
        return ranges
    }

    static func read(_ file: FileHandle, _ range: Range<Int>) throws -> [UInt8] {
        try file.seek(toOffset: UInt64(range.lowerBound))
        return [UInt8](try file.read(upToCount: range.count) ?? Data())
    }
}

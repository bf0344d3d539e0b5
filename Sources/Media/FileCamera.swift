import DoorbellCore
import Foundation

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
        guard let data = FileManager.default.contents(atPath: path) else {
            throw OpenError(description: "cannot read the camera file \(path)")
        }
        let bytes = [UInt8](data)
        let ranges = MJPEGSplitter.frames(in: bytes)
        guard let first = ranges.first else { throw OpenError(description: "no JPEG frames in \(path)") }
        let size = try JPEGDecoder().size(of: Array(bytes[first]))
        let frames = ranges.map { Array(bytes[$0]) }
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: Frame.self, bufferingPolicy: .bufferingNewest(2))
        let period = Duration.seconds(1) / fps
        let producer = Task { [clock, realtime, loop] in
            var sequence: UInt64 = 0
            var due = clock.monotonicNow()
            repeat {
                for jpeg in frames {
                    if realtime {
                        let wait = due - clock.monotonicNow()
                        if wait > .zero { try? await Task.sleep(for: wait) }
                        due += period
                    }
                    if Task.isCancelled { break }
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
}

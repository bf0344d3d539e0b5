import DoorbellCore

/// The last seconds of encoded frames, in RAM, so that a clip can start before its event. Bounded
/// both by time (the span from the oldest to the newest frame) and by bytes, whatever the bit
/// rate: a burst of large frames evicts old ones instead of growing the buffer. Nothing here
/// touches storage.
public struct PreRollBuffer: Sendable {
    public let maxDuration: Duration
    public let maxBytes: Int
    private var storage: [Frame] = []
    private var start = 0
    public private(set) var byteCount = 0
    /// Frames refused because one alone was larger than `maxBytes`.
    public private(set) var oversized = 0

    public init(maxDuration: Duration, maxBytes: Int) {
        self.maxDuration = maxDuration
        self.maxBytes = maxBytes
    }

    public var frames: ArraySlice<Frame> { storage[start...] }
    public var count: Int { storage.count - start }
    public var span: Duration {
        guard let first = frames.first, let last = frames.last else { return .zero }
        return last.timestamp - first.timestamp
    }

    public mutating func append(_ frame: Frame) {
        guard frame.bytes.count <= maxBytes else {
            oversized += 1
            return
        }
        storage.append(frame)
        byteCount += frame.bytes.count
        while start < storage.count
            && (byteCount > maxBytes || frame.timestamp - storage[start].timestamp > maxDuration)
        {
            byteCount -= storage[start].bytes.count
            start += 1
        }
        // Reclaim the evicted prefix now and then, not on every frame.
        if start > 64 && start * 2 > storage.count {
            storage.removeFirst(start)
            start = 0
        }
    }

    /// The frames captured at or after `time`.
    public func frames(since time: Duration) -> ArraySlice<Frame> {
        let slice = frames
        guard let index = slice.firstIndex(where: { $0.timestamp >= time }) else { return [] }
        return slice[index...]
    }

    /// The frame captured closest to `time`, for a snapshot.
    public func nearest(to time: Duration) -> Frame? {
        frames.min { abs(($0.timestamp - time) / .microseconds(1)) < abs(($1.timestamp - time) / .microseconds(1)) }
    }

    public mutating func removeAll() {
        storage.removeAll(keepingCapacity: true)
        start = 0
        byteCount = 0
    }
}

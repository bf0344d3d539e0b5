import Synchronization

/// Where the camera pipeline offers each frame after privacy masking, for whoever watches live.
/// Costs one lock when nobody watches; a slow watcher gets only the newest frame.
public final class FrameTap: Sendable {
    private let watchers = Mutex<[Int: AsyncStream<Frame>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)

    public init() {}

    public func offer(_ frame: Frame) {
        let current = watchers.withLock { $0.isEmpty ? [] : Array($0.values) }
        for watcher in current { watcher.yield(frame) }
    }

    /// Frames from now until the caller stops iterating.
    public func frames() -> AsyncStream<Frame> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(of: Frame.self, bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { [weak self] _ in _ = self?.watchers.withLock { $0.removeValue(forKey: id) } }
        watchers.withLock { $0[id] = continuation }
        return stream
    }

    public var watcherCount: Int { watchers.withLock { $0.count } }
}

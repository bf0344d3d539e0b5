import Synchronization

/// Newly stored events, fanned out to whoever listens: the web page's live updates and the
/// benchmark. A slow listener loses its oldest undelivered events rather than holding memory;
/// the page reloads the timeline from the store when it reconnects.
public final class EventFeed: Sendable {
    private let listeners = Mutex<[Int: AsyncStream<StoredEvent>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)

    public init() {}

    /// A stream of events stored from now on; ends when the caller stops iterating.
    public func subscribe(buffer: Int = 256) -> AsyncStream<StoredEvent> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(
            of: StoredEvent.self, bufferingPolicy: .bufferingNewest(buffer))
        continuation.onTermination = { [weak self] _ in _ = self?.listeners.withLock { $0.removeValue(forKey: id) } }
        listeners.withLock { $0[id] = continuation }
        return stream
    }

    func publish(_ events: [StoredEvent]) {
        guard !events.isEmpty else { return }
        for listener in listeners.withLock({ Array($0.values) }) {
            for event in events { listener.yield(event) }
        }
    }

    public var listenerCount: Int { listeners.withLock { $0.count } }
}

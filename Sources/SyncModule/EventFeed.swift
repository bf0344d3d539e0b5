import SyncStorage
import Synchronization

/// What the feed carries: a new event, or a media item that has just become complete.
public enum FeedItem: Sendable {
    case event(StoredEvent)
    case media(MediaRecord)
}

/// Newly stored events and media, fanned out to whoever listens: the web page's live updates and the
/// benchmark. A slow listener loses its oldest undelivered events rather than holding memory;
/// the page reloads the timeline from the store when it reconnects.
public final class EventFeed: Sendable {
    private let listeners = Mutex<[Int: AsyncStream<FeedItem>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)

    public init() {}

    /// A stream of events stored from now on; ends when the caller stops iterating.
    public func subscribe(buffer: Int = 256) -> AsyncStream<FeedItem> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(
            of: FeedItem.self, bufferingPolicy: .bufferingNewest(buffer))
        continuation.onTermination = { [weak self] _ in _ = self?.listeners.withLock { $0.removeValue(forKey: id) } }
        listeners.withLock { $0[id] = continuation }
        return stream
    }

    func publish(_ items: [FeedItem]) {
        guard !items.isEmpty else { return }
        for listener in listeners.withLock({ Array($0.values) }) {
            for item in items { listener.yield(item) }
        }
    }

    public var listenerCount: Int { listeners.withLock { $0.count } }
}

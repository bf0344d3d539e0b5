import Privacy
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import Mustache
import NIOCore
import ServiceLifecycle
import SyncModule
import SyncStorage
import SyncProtocol
import Synchronization

extension WebApp {
    // MARK: Timeline

    func timelineRoutes() -> RouteCollection<WebRequestContext> {
        let routes = RouteCollection(context: WebRequestContext.self)
        group(routes, .page).get("/") { request, context in try timeline(request, try context.owner()) }
        group(routes, .script).get("/events/stream") { _, _ in eventStream() }
        return routes
    }

    func timeline(_ request: Request, _ session: OwnerSession) throws -> Response {
        let parameters = request.uri.queryParameters
        var query = TimelineQuery()
        let kind = parameters.get("kind") ?? "all"
        switch kind {
        case "ring": query.kinds = [.ring, .longPress]
        case "motion": query.kinds = [.motionStarted]
        default: break
        }
        let device = parameters.get("device").flatMap { $0.isEmpty ? nil : $0 }
        query.device = device
        let day = parameters.get("day").flatMap { $0.isEmpty ? nil : $0 }
        // Four-digit years only, so that the day's milliseconds stay far inside Int64.
        if let day, day.utf8.count == 10, let start = Self.dayFormatter.date(from: day),
            (0...253_402_300_799).contains(start.timeIntervalSince1970)
        {
            query.from = Int64(start.timeIntervalSince1970 * 1000)
            query.until = query.from! + 86_400_000
        }
        query.before = parameters.get("before", as: Int64.self)
        let events = try store.timeline(query)
        let devices = try store.devices()
        let names = try deviceNames()
        var next = "?kind=\(kind)&day=\(day ?? "")&device=\(device ?? "")"
        if events.count == query.limit, let last = events.last { next += "&before=\(last.sequence)" } else { next = "" }
        let page = TimelinePage(
            rows: try events.map { try row($0, names: names) }, empty: events.isEmpty, next: next.nonEmpty,
            day: day ?? "",
            kinds: [("all", "Everything"), ("ring", "Rings"), ("motion", "Motion")].map {
                TimelinePage.Choice(value: $0.0, label: $0.1, selected: $0.0 == kind)
            },
            devices: devices.map { TimelinePage.DeviceChoice(id: $0.id, name: $0.name, selected: $0.id == device) })
        return html(pages.render(page, session: session))
    }

    static let dayFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter
    }()

    static let timeFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE d MMM, HH:mm:ss"
        return formatter
    }()

    /// One timeline row: the event, its snapshot and clip when they have arrived, and the details
    /// of later records about it (more presses, the end of the motion).
    func row(_ stored: StoredEvent, names: [String: String]) throws -> TimelineRow {
        let event = stored.event
        let related = try store.related(to: event.eventID)
        let media = try store.media(forEvent: event.eventID)
        let snapshot = media.first { $0.kind == .snapshot && $0.completedAt != nil && $0.deviceID == stored.deviceID }
        let clip = media.first { $0.kind == .clip && $0.completedAt != nil && $0.deviceID == stored.deviceID }
        var details: [String] = []
        let label: String
        switch event.kind {
        case .ring:
            label = "Ring"
            let presses = related.compactMap(\.event.pressCount).max() ?? 1
            if presses > 1 { details.append("\(presses) presses") }
            if event.chimeSilenced == true { details.append("chime silenced (do not disturb)") }
        case .longPress:
            label = "Long press"
        case .motionStarted:
            label = "Motion"
            if let zones = event.zones, !zones.isEmpty { details.append("in \(zones.joined(separator: ", "))") }
            if let end = related.last(where: { $0.event.kind == .motionEnded }) {
                // In Double: rows stored before the sync module bounded wall times could overflow Int64.
                let seconds = (Double(end.event.wallMilliseconds) - Double(event.wallMilliseconds)) / 1000
                details.append("\(Int64(seconds.rounded(.towardZero))) s")
            } else {
                details.append("ongoing")
            }
        case .mediaEvicted:
            label = "Media lost before upload"
            details.append(event.reason ?? "")
        case .ringPressCount, .motionUpdated, .motionEnded, .other:
            // Updates are folded into the row of the event they are about and shown alone only if
            // it is missing; a newer doorbell's kind is shown by its name.
            label = event.kind.rawValue
        }
        let time = Date(timeIntervalSince1970: Double(event.wallMilliseconds) / 1000)
        return TimelineRow(
            eventID: event.eventID, kind: event.kind.rawValue, label: label,
            device: names[stored.deviceID] ?? stored.deviceID, time: Self.timeFormatter.string(from: time),
            iso: time.formatted(.iso8601), details: details.joined(separator: " · ").nonEmpty,
            snapshot: snapshot.map { "/media/\($0.deviceID)/\($0.mediaID)" },
            clip: clip.map { "/clip/\($0.deviceID)/\($0.mediaID)" },
            waiting: snapshot == nil && (event.kind == .ring || event.kind == .motionStarted))
    }

    /// Server-sent events: each new or updated timeline row, rendered, as soon as it is stored.
    /// A comment every 15 s keeps proxies from closing the stream and finds a page that went away;
    /// shutdown ends the stream.
    func eventStream() -> Response {
        let feed = api.feed.subscribe()
        let headline = TimelineQuery().kinds
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
            body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "retry: 2000\n: connected\n\n"))
                // This stream's own items, or nil when it is time for a keep-alive.
                let (items, input) = AsyncStream.makeStream(of: FeedItem?.self)
                let forward = Task {
                    for await item in feed { input.yield(item) }
                    input.finish()
                }
                let beats = Task {
                    while (try? await Task.sleep(for: .seconds(15))) != nil { input.yield(nil) }
                }
                defer {
                    forward.cancel()
                    beats.cancel()
                }
                for await item in items.cancelOnGracefulShutdown() {
                    let stored: StoredEvent?
                    switch item {
                    case .event(let event)?:
                        stored =
                            headline.contains(event.event.kind)
                            ? event : try store.related(to: event.event.eventID).first
                    case .media(let record)?:
                        stored = try store.related(to: record.eventID).first
                    case nil:
                        stored = nil
                    }
                    guard let stored else {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        continue
                    }
                    let rendered = pages.render(try row(stored, names: try deviceNames()))
                    let payload = try JSONSerialization.data(withJSONObject: [
                        "sequence": stored.sequence, "eventID": stored.event.eventID,
                        "kind": stored.event.kind.rawValue,
                        "device": stored.deviceID, "html": rendered,
                    ])
                    try await writer.write(
                        ByteBuffer(string: "event: row\ndata: \(String(decoding: payload, as: UTF8.self))\n\n"))
                }
            })
    }

    func deviceNames() throws -> [String: String] {
        Dictionary(try store.devices().map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    }
}

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
    // MARK: Live view

    func liveRoutes() -> RouteCollection<WebRequestContext> {
        let routes = RouteCollection(context: WebRequestContext.self)
        group(routes, .page).get("/live/:device") { _, context in
            try livePage(try context.owner(), device: context.parameters.get("device") ?? "")
        }
        group(routes, .form).post("/live/:device/start") { request, context in
            await startLive(request, try context.owner(), device: context.parameters.get("device") ?? "")
        }
        group(routes, .script).get("/live/:device/stream") { request, context in
            liveStream(
                try context.owner(), device: context.parameters.get("device") ?? "",
                ticket: request.uri.queryParameters.get("ticket") ?? "")
        }
        group(routes, .form).post("/live/:device/reply") { request, context in
            await quickReply(request, try context.owner(), device: context.parameters.get("device") ?? "")
        }
        return routes
    }

    /// Talk: a WebSocket from the page, with the session cookie, the CSRF token in the query and
    /// an Origin of this site (so another site cannot open it with the owner's cookie). On the
    /// sync module's own context, which the WebSocket upgrade needs.
    func installTalk(_ router: Router<SyncRequestContext>) {
        router.ws("/live/:device/talk") { request, _ in
            guard let session = sessions.session(request, now: now()),
                constantTimeEqual(request.uri.queryParameters.get("csrf") ?? "", session.csrf), Self.sameOrigin(request)
            else {
                logger.warning("Refused a talk connection without a session, CSRF token or matching origin.")
                return .dontUpgrade
            }
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            guard let session = sessions.session(context.request, now: now()) else { return }
            try await talk(
                session, device: context.requestContext.parameters.get("device") ?? "", request: context.request,
                inbound: inbound, outbound: outbound)
        }
    }

    func livePage(_ session: OwnerSession, device: String) throws -> Response {
        guard let record = try store.device(device) else {
            return html(
                pages.render(MessagePage(title: "Not found", text: "There is no such doorbell."), session: session),
                status: .notFound)
        }
        let replies = api.control.report(of: device)?.report.replies ?? []
        let page = LivePage(
            title: "Live: \(record.name)", device: device, name: record.name,
            online: api.control.connected.contains(device), maxSeconds: Int(liveMax / .seconds(1)),
            replies: replies, hasReplies: !replies.isEmpty,
            talkKey: ((try? store.talkKey(of: device)) ?? nil)?.base64EncodedString() ?? "")
        return html(pages.render(page, session: session))
    }

    /// Starts the doorbell's live view, or joins the one running, and answers a ticket for one
    /// stream. Each viewer is an access-log entry here, since the stream is a GET that logs nothing.
    func startLive(_ request: Request, _ session: OwnerSession, device: String) async -> Response {
        let signed: OwnerSigned
        switch await OwnerSigned.read(request, name: "live-start", device: device) {
        case .success(let command): signed = command
        case .failure(let refusal): return plain(.badRequest, refusal.reason)
        }
        let answer = await api.control.send(
            ControlCommand(.liveStart, id: Sessions.random(), signed: signed.text, signature: signed.signature),
            to: device)
        guard answer.ok else { return plain(.serviceUnavailable, answer.reason ?? "the doorbell refused") }
        audit(session, "live-view", device: device, detail: "started", request)
        return json(LiveStart(ok: true, ticket: liveTickets.issue(owner: session.owner, device: device, now: now())))
    }

    struct LiveStart: Encodable {
        var ok: Bool
        var ticket: String
    }

    /// The live frames as a stream of length-prefixed JPEGs (4-byte big-endian length, then the
    /// bytes), which the page draws on a canvas. Ends at the time limit or when the page goes (the
    /// hub stops the doorbell's stream when its last viewer leaves).
    func liveStream(_ session: OwnerSession, device: String, ticket: String) -> Response {
        guard liveTickets.redeem(ticket, owner: session.owner, device: device, now: now()) else {
            return plain(.forbidden, "start the live view first (its ticket is missing, used or expired)")
        }
        let frames = api.control.frames(from: device)
        let limit = liveMax
        return Response(
            status: .ok,
            headers: [.contentType: "application/octet-stream", .cacheControl: "no-store"],
            body: ResponseBody { writer in
                let deadline = ContinuousClock.now + limit
                for await jpeg in frames.cancelOnGracefulShutdown() {
                    guard ContinuousClock.now < deadline else { break }
                    var buffer = ByteBuffer()
                    buffer.writeInteger(UInt32(jpeg.count))
                    buffer.writeBytes(jpeg)
                    try await writer.write(buffer)
                }
            })
    }

    // MARK: Talk and quick replies

    /// Relays one talk session: the door's audio to the page, the owner's frames to the door,
    /// until either side ends it. Start and end are access-log entries.
    func talk(
        _ session: OwnerSession, device: String, request: Request, inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter
    ) async throws {
        let hub = api.control
        // The page's first message is the talk-start it signed; the session is the one it names.
        // A page that sends none within 10 s has its socket closed, which ends the wait.
        let waiting = Task {
            try await Task.sleep(for: .seconds(10))
            try await outbound.close(.policyViolation, reason: "no signed talk-start within 10 s")
        }
        var messages = inbound.messages(maxSize: 8192).makeAsyncIterator()
        let firstMessage = try await messages.next()
        waiting.cancel()
        guard case .text(let first)? = firstMessage,
            case .success(let signed) = OwnerSigned.parse(Data(first.utf8), name: "talk-start", device: device),
            let id = signed.command.session
        else {
            try await outbound.close(.policyViolation, reason: "expected the signed talk-start first")
            return
        }
        let door: AsyncStream<Data>
        switch await hub.beginTalk(device: device, session: id, signed: signed.text, signature: signed.signature) {
        case .failure(let refused):
            try await outbound.close(.policyViolation, reason: String(refused.reason.prefix(120)))
            return
        case .success(let talk):
            door = talk.door
            try await outbound.write(.binary(ByteBuffer(bytes: talk.header)))
        }
        let started = ContinuousClock.now
        // Frames relayed each way, for the log: a talk that was heard in only one direction shows.
        let relayed = TalkCounts()
        audit(session, "talk", device: device, detail: "started", request)
        defer {
            hub.endTalk(device: device, session: id)
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            let (toDoor, notSent, toOwner) = relayed.counts.withLock { ($0.toDoor, $0.notSent, $0.toOwner) }
            audit(
                session, "talk", device: device,
                detail:
                    "ended after \(Int(seconds)) s; \(toDoor) frames to the door (\(notSent) not sent), \(toOwner) to the owner",
                request)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await frame in door {
                    try await outbound.write(.binary(ByteBuffer(bytes: frame)))
                    relayed.counts.withLock { $0.toOwner += 1 }
                }
                try? await outbound.close(.normalClosure, reason: "the talk session ended at the door")
            }
            // The owner's frames, read here: the door's side closes the socket when it ends, which
            // ends this loop too.
            while let message = try await messages.next() {
                guard case .binary(let buffer) = message, buffer.readableBytes == TalkSeal.frameSize else { continue }
                let sent = try await hub.sendTalk(Data(buffer.readableBytesView), device: device, session: id)
                relayed.counts.withLock { sent ? ($0.toDoor += 1) : ($0.notSent += 1) }
            }
            group.cancelAll()
        }
    }

    func quickReply(_ request: Request, _ session: OwnerSession, device: String) async -> Response {
        let signed: OwnerSigned
        switch await OwnerSigned.read(request, name: "quick-reply", device: device) {
        case .success(let command): signed = command
        case .failure(let refusal): return plain(.badRequest, refusal.reason)
        }
        let name = signed.command.reply ?? ""
        let answer = await api.control.send(
            ControlCommand(.quickReply, id: Sessions.random(), signed: signed.text, signature: signed.signature),
            to: device)
        guard answer.ok else { return plain(.serviceUnavailable, answer.reason ?? "the doorbell refused") }
        audit(session, "quick-reply", device: device, detail: name, request)
        return json(["ok": true])
    }
}

/// Frames a talk session relayed each way, and the owner's frames that found the door's session
/// or channel gone.
final class TalkCounts: Sendable {
    let counts = Mutex((toDoor: 0, notSent: 0, toOwner: 0))
}

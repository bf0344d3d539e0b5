import AsyncHTTPClient
import DoorbellCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SyncProtocol

/// Uploads finished snapshots and clips, oldest first, in chunks the sync module acknowledges one
/// by one (docs/protocol.md, Media). Nothing about an upload is kept locally: after a restart on
/// either side the doorbell announces the item again and the sync module says how much it holds,
/// so a half-uploaded clip resumes where it stopped. One chunk per step, so that events, which
/// never wait for media, get the link between chunks.
struct MediaUploader: Sendable {
    let queue: any MediaQueue
    let pairing: PairingRecord
    let identity: DeviceIdentity
    let logger: Logger
    let chunkSize: Int

    /// The upload in progress.
    struct Upload: Sendable {
        var item: MediaItem
        var sha256: String
        var offset: Int
    }

    /// Makes one step of progress: announces the next item or sends its next chunk.
    func step(_ client: HTTPClient, _ current: inout Upload?) async -> UplinkService.Outcome {
        if current == nil {
            let items: [MediaItem]
            do {
                items = try queue.waiting()
            } catch {
                return .failed("cannot list the media store: \(error)", .degraded("media store unreadable"))
            }
            guard let item = items.first else { return .idle }
            return await announce(item, client, &current)
        }
        return await sendChunk(client, &current)
    }

    private func announce(_ item: MediaItem, _ client: HTTPClient, _ current: inout Upload?) async
        -> UplinkService.Outcome
    {
        let hash: String
        do {
            hash = try sha256Hex(ofFile: item.path)
        } catch {
            return .sent  // evicted since it was listed; the eviction is its own event
        }
        let kind: MediaKind =
            switch item.kind {
            case .snapshot: .snapshot
            case .clip: .clip
            case .thumbnail: .thumbnail
            }
        // A struct of strings and numbers always encodes.
        let body =
            (try? JSONEncoder().encode(
                MediaAnnouncement(eventID: item.eventID.rawValue, kind: kind, size: item.size, sha256: hash))) ?? Data()
        do {
            let (status, reply) = try await send(client, "PUT", "/v1/media/\(item.id)", body, type: "application/json")
            switch status {
            case 200, 201:
                let progress = try JSONDecoder().decode(Progress.self, from: reply)
                if progress.complete {
                    return letGo(item)
                } else {
                    current = Upload(item: item, sha256: hash, offset: progress.received)
                }
                return .sent
            case 400, 409:
                // A bug on one side, not a transient fault: set it aside so the queue moves on.
                return setAside(item, because: String(decoding: reply, as: UTF8.self))
            default:
                return UplinkService.failure(status, reply)
            }
        } catch {
            return .failed("\(error)", .degraded("sync module unreachable; backing off"))
        }
    }

    private func sendChunk(_ client: HTTPClient, _ current: inout Upload?) async -> UplinkService.Outcome {
        guard let upload = current else { return .idle }
        let chunk: Data
        do {
            guard let handle = FileHandle(forReadingAtPath: upload.item.path) else {
                current = nil
                return .sent  // evicted meanwhile
            }
            defer { try? handle.close() }
            try handle.seek(toOffset: UInt64(upload.offset))
            chunk = try handle.read(upToCount: chunkSize) ?? Data()
        } catch {
            current = nil
            return .failed("cannot read \(upload.item.path): \(error)", .degraded("media store unreadable"))
        }
        guard !chunk.isEmpty else {
            // The sync module holds all of it but has not finished it (another request is), or
            // the file is shorter than announced: announce it again, after a pause rather than
            // at once, so that this never spins.
            current = nil
            return .failed(
                "the sync module holds \(upload.offset) bytes of \(upload.item.id) but has not finished it",
                .degraded("media upload waiting for the sync module"))
        }
        do {
            let (status, reply) = try await send(
                client, "PATCH", "/v1/media/\(upload.item.id)?offset=\(upload.offset)", chunk,
                type: "application/octet-stream")
            switch status {
            case 200, 409:
                // 409: the sync module holds a different length (a chunk it wrote before we heard).
                guard let progress = try? JSONDecoder().decode(Progress.self, from: reply) else {
                    // Another request is writing or finishing it: announce it again after a pause.
                    current = nil
                    return .failed(
                        "HTTP \(status): \(String(decoding: reply, as: UTF8.self))",
                        .degraded("media upload waiting for the sync module"))
                }
                current?.offset = progress.received
                return .sent
            case 201:
                logger.info("Media uploaded.", metadata: [LogKey.media: "\(upload.item.id)"])
                current = nil
                return letGo(upload.item)
            case 415:
                // Refused as unsealed: a bug here, never sent again.
                current = nil
                return setAside(upload.item, because: "not sealed")
            case 404, 422:
                // Forgotten or failed its hash check: announce it again and start over.
                logger.warning(
                    "Media upload starts over.",
                    metadata: [LogKey.media: "\(upload.item.id)", LogKey.reason: "HTTP \(status)"])
                current = nil
                return .sent
            default:
                return UplinkService.failure(status, reply)
            }
        } catch {
            return .failed("\(error)", .degraded("sync module unreachable; backing off"))
        }
    }

    /// Keeps an item the sync module refused out of the queue (`<file>.rejected`), logged.
    private func setAside(_ item: MediaItem, because reason: String) -> UplinkService.Outcome {
        logger.error(
            "The sync module refused a media item; keeping it aside.",
            metadata: [LogKey.media: "\(item.id)", LogKey.reason: "\(reason)"])
        do {
            try queue.reject(item)
            return .sent
        } catch {
            return .failed("cannot set \(item.path) aside: \(error)", .degraded("media store not writable"))
        }
    }

    /// Deletes the doorbell's copy of an item the sync module holds. If that fails the item
    /// would be announced again at once, forever: report it, so the uplink backs off.
    private func letGo(_ item: MediaItem) -> UplinkService.Outcome {
        do {
            try queue.uploaded(item)
            return .sent
        } catch {
            return .failed("cannot delete the uploaded \(item.path): \(error)", .degraded("media store not writable"))
        }
    }

    struct Progress: Decodable {
        var received: Int
        var complete: Bool
    }

    private func send(_ client: HTTPClient, _ method: String, _ path: String, _ body: Data, type: String)
        async throws -> (Int, Data)
    {
        let request = try identity.request(
            to: pairing.url, HTTPMethod(rawValue: method), path, body: body, contentType: type)
        let response = try await client.execute(request, timeout: .seconds(30))
        var buffer = try await response.body.collect(upTo: 1 << 16)
        return (Int(response.status.code), Data(buffer.readBytes(length: buffer.readableBytes) ?? []))
    }
}

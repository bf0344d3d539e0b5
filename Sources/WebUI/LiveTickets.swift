import Foundation
import SyncProtocol
import Synchronization

/// Tickets for the live stream, one per viewer. The stream is a GET, which logs nothing; the POST
/// that starts or joins a live view logs the viewer and hands out a ticket, which opens one stream
/// of that doorbell for that owner within `lifetime`. A viewer who skips the POST gets no stream,
/// so none watches unlogged.
final class LiveTickets: Sendable {
    let lifetime: Int64
    /// More than any owner opens at once; past it the oldest tickets go first.
    let capacity: Int
    /// By the SHA-256 of the ticket, so that a lookup compares no secret.
    private let tickets = Mutex<[String: (owner: String, device: String, expires: Int64)]>([:])

    init(lifetime: Duration = .seconds(60), capacity: Int = 64) {
        self.lifetime = Int64(lifetime / .milliseconds(1))
        self.capacity = capacity
    }

    func issue(owner: String, device: String, now: Int64) -> String {
        let ticket = Sessions.random()
        tickets.withLock { table in
            table = table.filter { $0.value.expires > now }
            while table.count >= capacity, let oldest = table.min(by: { $0.value.expires < $1.value.expires }) {
                table.removeValue(forKey: oldest.key)
            }
            table[Self.key(ticket)] = (owner, device, now + lifetime)
        }
        return ticket
    }

    /// Whether `ticket` was issued to this owner for this device and is still fresh; it is used up.
    func redeem(_ ticket: String, owner: String, device: String, now: Int64) -> Bool {
        guard !ticket.isEmpty, ticket.utf8.count <= 64 else { return false }
        guard let entry = tickets.withLock({ $0.removeValue(forKey: Self.key(ticket)) }) else { return false }
        return entry.owner == owner && entry.device == device && now < entry.expires
    }

    static func key(_ ticket: String) -> String { sha256Hex(Data(ticket.utf8)) }
}

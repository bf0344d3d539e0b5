import Foundation
import Privacy
import Synchronization
import SyncProtocol

/// Lets through only commands the owner signed for this doorbell, fresh and once
/// (docs/privacy.md, "Owner-signed commands"). Fresh means signed within `window` of the doorbell's
/// clock and not before the doorbell started: the nonces it has seen are kept for the window, in
/// memory, so a command from before a restart cannot be played again after it.
public final class CommandGate: Sendable {
    let device: String
    let window: Int64
    let started: Int64
    let now: @Sendable () -> Int64
    /// Nonces seen, with the time each command was signed.
    private let seen = Mutex<[String: Int64]>([:])
    /// More than this many commands within the window are refused: the table stays bounded.
    static let maximumSeen = 4096

    public init(
        device: String, window: Duration = .seconds(120),
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
    ) {
        self.device = device
        self.window = Int64(window / .milliseconds(1))
        self.now = now
        self.started = now()
    }

    /// The signed command inside `message` and the key that signed it, or why not. `keys`: the
    /// owner keys the recovery key vouched for (revoked ones are not among them).
    public func check(_ message: ControlCommand, keys: [OwnerPublicKey]) throws(CommandRefusal) -> (
        command: OwnerCommand, signer: OwnerPublicKey
    ) {
        guard let text = message.signed, let signature = message.signature else { throw .unsigned }
        let (command, signer) = try OwnerCommand.verified(text, signature: signature, keys: keys)
        guard command.device == device else { throw .mismatch("doorbell \(command.device.prefix(32)), not this one") }
        guard command.name == message.name.rawValue else {
            throw .mismatch("\"\(command.name.prefix(32))\", not the \"\(message.name.rawValue)\" relayed")
        }
        guard OwnerCommand.isToken(command.nonce, length: 16...64) else {
            throw .malformed("the nonce is not 16 to 64 letters, digits, - or _")
        }
        let current = now()
        let age = current - command.at
        guard abs(age) <= window else {
            throw .stale("signed \(age / 1000) s from now by the doorbell's clock; check both clocks")
        }
        guard command.at >= started - 1000 else { throw .stale("signed before the doorbell started") }
        let fresh = seen.withLock { seen -> Bool? in
            if seen.count >= Self.maximumSeen { seen = seen.filter { current - $0.value <= window } }
            guard seen[command.nonce] == nil else { return false }
            guard seen.count < Self.maximumSeen else { return nil }
            seen[command.nonce] = command.at
            return true
        }
        switch fresh {
        case true?: return (command, signer)
        case false?: throw .replayed
        case nil: throw .stale("more than \(Self.maximumSeen) commands within \(window / 1000) s")
        }
    }
}

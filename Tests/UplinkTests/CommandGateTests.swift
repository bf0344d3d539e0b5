import DoorbellTestKit
import Foundation
import Privacy
import Synchronization
import SyncProtocol
import Testing
import Uplink

@Suite(.timeLimit(.minutes(10))) struct CommandGateTests {
    /// A clock the test moves.
    final class Clock: Sendable {
        let now = Mutex<Int64>(1_800_000_000_000)
        func advance(_ milliseconds: Int64) { now.withLock { $0 += milliseconds } }
    }

    /// A gate for the doorbell `door` on a clock the test moves, and the owner's keys.
    static func gate() -> (Clock, CommandGate, OwnerKeyring, [OwnerPublicKey]) {
        let clock = Clock()
        let keyring = OwnerKeyring()
        return (
            clock, CommandGate(device: "door", now: { clock.now.withLock { $0 } }), keyring, [keyring.browser.publicKey]
        )
    }

    @Test("fresh within 120 s either way, not before the doorbell started, and each nonce once")
    func freshness() throws {
        let (clock, gate, keyring, keys) = Self.gate()
        let started = clock.now.withLock { $0 }
        let send = { (at: Int64) in keyring.command(.liveStart, id: "1", device: "door", at: at) }
        // Signed a second before the doorbell's clock started: a clock a little behind is fine.
        _ = try gate.check(send(started - 500), keys: keys)
        #expect(throws: CommandRefusal.stale("signed before the doorbell started")) {
            try gate.check(send(started - 2000), keys: keys)
        }
        clock.advance(300_000)
        let now = clock.now.withLock { $0 }
        _ = try gate.check(send(now - 119_000), keys: keys)
        _ = try gate.check(send(now + 119_000), keys: keys)
        #expect(throws: CommandRefusal.self) { try gate.check(send(now - 121_000), keys: keys) }
        #expect(throws: CommandRefusal.self) { try gate.check(send(now + 121_000), keys: keys) }
        let once = send(now)
        _ = try gate.check(once, keys: keys)
        #expect(throws: CommandRefusal.replayed) { try gate.check(once, keys: keys) }
        #expect(throws: CommandRefusal.unsigned) { try gate.check(ControlCommand(.liveStart, id: "2"), keys: keys) }
    }

    @Test("at most 4,096 commands in the window; older nonces make room")
    func bounded() throws {
        let (clock, gate, keyring, keys) = Self.gate()
        clock.advance(1000)
        for _ in 0..<4096 {
            _ = try gate.check(
                keyring.command(.snapshotNow, id: "1", device: "door", at: clock.now.withLock { $0 }), keys: keys)
        }
        #expect(throws: CommandRefusal.self) {
            try gate.check(
                keyring.command(.snapshotNow, id: "1", device: "door", at: clock.now.withLock { $0 }), keys: keys)
        }
        clock.advance(121_000)
        _ = try gate.check(
            keyring.command(.snapshotNow, id: "1", device: "door", at: clock.now.withLock { $0 }), keys: keys)
    }
}

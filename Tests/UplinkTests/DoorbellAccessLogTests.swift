import DoorbellCore
import DoorbellTestKit
import Foundation
import Logging
import SyncProtocol
import Testing

@testable import Uplink

@Suite("The doorbell's access-log files", .timeLimit(.minutes(10)))
struct DoorbellAccessLogTests {
    let rotation = AccessRotation(segment: 10, maximumKept: 30)
    let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// A doorbell's log with `rotation` in `directory`, and the sync module's signer, whose key it pinned.
    func mirror(in directory: TemporaryDirectory, rotation: AccessRotation) throws -> (DoorbellAccessLog, AccessSigner)
    {
        let log = try DoorbellAccessLog(
            stateDirectory: directory.path, identity: try DeviceIdentity(), logger: quiet, rotation: rotation)
        let signer = try AccessSigner(log: "sync", privateKeyBytes: try DeviceIdentity().privateKeyBytes)
        #expect(log.pin(syncKey: signer.publicKey))
        return (log, signer)
    }

    @Test("its own file rotates at a checkpoint, stays bounded and verifies whole, across a restart")
    func ownRotation() throws {
        let directory = try TemporaryDirectory()
        let identity = try DeviceIdentity()
        var log = try DoorbellAccessLog(
            stateDirectory: directory.path, identity: identity, logger: quiet, rotation: rotation)
        for index in 0..<60 {
            if index == 30 {
                log = try DoorbellAccessLog(
                    stateDirectory: directory.path, identity: identity, logger: quiet,
                    rotation: rotation)
            }
            log.record("Config reloaded.", AccessNote("config", actor: "local", detail: "\(index)", source: "SIGHUP"))
        }
        let kept = DoorbellAccessLog.read(log.ownPath, log: identity.deviceID)
        #expect(kept.count <= 30 && kept.count > 20)
        #expect(kept.first?.isCheckpoint == true && kept.last?.detail == "59")
        #expect(AccessLogVerifier.verify(kept, log: identity.deviceID, publicKey: identity.publicKey).isEmpty)
        #expect(log.lastSequence == kept.last?.sequence)
    }

    @Test("under a flood of fresh entries its own file keeps the minimum age, up to the writer's limit")
    func ownFlood() throws {
        let directory = try TemporaryDirectory()
        let identity = try DeviceIdentity()
        let aged = AccessRotation(segment: 10, maximumKept: 30, minimumAge: 3_600_000)
        let log = try DoorbellAccessLog(
            stateDirectory: directory.path, identity: identity, logger: quiet, rotation: aged)
        var most = 0
        for index in 0..<(aged.writerLimit + 60) {
            log.record("Refused.", AccessNote("refused", actor: "sync", detail: "\(index)", source: "control channel"))
            if index == aged.hardLimit {
                // Fresh entries do not rotate out at the copies' bound.
                #expect(DoorbellAccessLog.read(log.ownPath, log: identity.deviceID).first?.sequence == 1)
            }
            if index % 20 == 0 { most = max(most, DoorbellAccessLog.read(log.ownPath, log: identity.deviceID).count) }
        }
        let kept = DoorbellAccessLog.read(log.ownPath, log: identity.deviceID)
        #expect(most <= aged.writerLimit + 1)
        #expect(kept.first?.isCheckpoint == true && kept.count < aged.writerLimit)
        #expect(AccessLogVerifier.verify(kept, log: identity.deviceID, publicKey: identity.publicKey).isEmpty)
    }

    @Test("the mirror begins at the sync module's checkpoint, rotates, and takes no flood without one")
    func mirrorRotation() throws {
        let directory = try TemporaryDirectory()
        let (log, signer) = try mirror(in: directory, rotation: rotation)
        let records = try signer.log(100, rotation: rotation)
        // The sync module rotated its log: the first the doorbell sees is a checkpoint.
        let start = try #require(records.firstIndex { $0.isCheckpoint && $0.sequence > 20 })
        for batch in stride(from: start, to: records.count, by: 9) {
            log.receiveMirror(Array(records[batch..<min(batch + 9, records.count)]))
        }
        let mirror = DoorbellAccessLog.read(log.mirrorPath, log: "sync")
        #expect(mirror.last == records.last && mirror.count <= 30)
        #expect(mirror.first?.isCheckpoint == true)
        #expect(AccessLogVerifier.verify(mirror, log: "sync", publicKey: signer.publicKey).isEmpty)

        // Entries with no checkpoint among them fill it to the hard limit and no further.
        var flood = [records.last!]
        for index in 0..<(rotation.hardLimit + 10) {
            flood.append(
                try signer.entry(
                    after: flood.last, at: Int64(index), actor: "x", action: "x", device: "", detail: "", source: ""))
        }
        for batch in stride(from: 1, to: flood.count, by: 10) {
            log.receiveMirror(Array(flood[batch..<min(batch + 10, flood.count)]))
        }
        #expect(DoorbellAccessLog.read(log.mirrorPath, log: "sync").count == rotation.hardLimit)
    }

    @Test("a flood of fresh entries, checkpoints and all, cannot flush older entries out of the mirror")
    func floodKeepsRecent() throws {
        let directory = try TemporaryDirectory()
        let aged = AccessRotation(segment: 10, maximumKept: 30, minimumAge: 3_600_000)
        let (log, signer) = try mirror(in: directory, rotation: aged)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let records = try signer.log(100, rotation: aged, at: { now + Int64($0) }, action: "live-view")
        for batch in stride(from: 0, to: records.count, by: 9) {
            log.receiveMirror(Array(records[batch..<min(batch + 9, records.count)]))
        }
        let mirror = DoorbellAccessLog.read(log.mirrorPath, log: "sync")
        #expect(mirror.count == aged.hardLimit)
        #expect(mirror.first == records.first)
    }
}

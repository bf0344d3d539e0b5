import DoorbellTestKit
import Foundation
import GRDB
import SyncStorage
import SyncProtocol
import Testing

/// `porchlightctl audit verify` on the real binaries: both logs are signed, mirrored and compared,
/// and each kind of tampering, on either side, is reported at its entry.
@Suite("Access log audit", .serialized, .timeLimit(.minutes(10)))
struct AuditTests {
    /// Four entries on each side: the doorbell's pairing and three config reloads; the sync
    /// module's owner account, the pairing and two more account changes.
    static func setUp() async throws -> (PairedSetup, String) {
        let setup = try await PairedSetup()
        try await setup.startWithOwner()
        let config = try setup.doorbellConfig("[button]\nsource = \"simulated\"\n")
        let (daemon, configPath) = try await startDaemon(in: setup.directory, config: config)
        try await setup.pair(configPath: configPath)
        // The daemon notes the pairing when it sees the new record; the reloads come after it,
        // so that the entries are in the order the tests below tamper with.
        let log = setup.directory.path + "/doorbell/access-log.jsonl"
        #expect(
            await eventually {
                ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("pairing")
            })
        for _ in 0..<3 {
            daemon.signal(SIGHUP)
            #expect(await daemon.notify.waitFor("READY=1") != nil)
        }
        for name in ["carol", "dave"] {
            let add = try ChildProcess(
                "porchlight-sync", arguments: ["owner", "add", name, "--password-stdin", "--config", setup.syncConfig],
                input: "a long enough password\n")
            #expect(try await add.runToExit(timeout: .seconds(30)) == 0, "stderr:\n\(add.stderr)")
        }
        // Mirrored both ways within a few seconds of the channel opening.
        var last = ""
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let verify = try await Self.verify(configPath)
            last = verify.stdout + verify.stderr
            if verify.status == 0, last.contains("This doorbell's log: 4 entries"),
                last.contains("as mirrored here: 4 entries"), last.contains("copy of this doorbell's log: 4 entries")
            {
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(last.contains("The sync module's log, as it serves it now: 4 entries, intact"), "\(last)")
        #expect(last.contains("copy of this doorbell's log: 4 entries, intact"), "\(last)")
        #expect(await daemon.terminate() == 0)
        return (setup, configPath)
    }

    static func verify(_ configPath: String) async throws -> (status: Int32?, stdout: String, stderr: String) {
        let ctl = try ChildProcess("porchlightctl", arguments: ["audit", "verify", "--config", configPath])
        let status = try await ctl.runToExit(timeout: .seconds(30))
        return (status, ctl.stdout, ctl.stderr)
    }

    /// Runs verify on a tampered copy and restores the original afterwards.
    static func expectFinding(_ configPath: String, _ finding: String, in section: String) async throws {
        let result = try await verify(configPath)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let start = try #require(lines.firstIndex { $0.hasPrefix(section) }, "\(result.stdout)")
        let findings = lines[(start + 1)...].prefix { $0.hasPrefix("  - ") }
        #expect(findings.contains("  - \(finding)"), "\(section) in:\n\(result.stdout)")
    }

    @Test("edited, deleted, reordered and inserted entries in the doorbell's file are each named")
    func doorbellSide() async throws {
        let (setup, configPath) = try await Self.setUp()
        let path = setup.directory.path + "/doorbell/access-log.jsonl"
        let original = try String(contentsOfFile: path, encoding: .utf8)
        let lines = original.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        func tamper(_ changed: [String], _ finding: String) async throws {
            try (changed.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            try await Self.expectFinding(configPath, finding, in: "This doorbell's log")
            try original.write(toFile: path, atomically: true, encoding: .utf8)
        }
        var edited = lines
        edited[1] = edited[1].replacingOccurrences(of: "reloaded", with: "did not reload")
        try await tamper(edited, "entry 2 was edited (its hash or signature is wrong)")
        var deleted = lines
        deleted.remove(at: 2)
        try await tamper(deleted, "entry 3 was deleted")
        var reordered = lines
        reordered.swapAt(1, 2)
        try await tamper(reordered, "entry 2 was moved after entry 3 (reordered)")
        var inserted = lines
        inserted.insert(lines[1].replacingOccurrences(of: "reloaded", with: "nothing happened"), at: 2)
        try await tamper(inserted, "an entry was inserted after entry 2")
        // The last entry cut off the end: only the sync module's copy shows it.
        try await tamper(Array(lines.dropLast()), "entry 4 is missing from this doorbell's log")
        #expect(try await Self.verify(configPath).status == 0)
    }

    @Test("edited, deleted, reordered, inserted and hidden entries at the sync module are each named")
    func syncSide() async throws {
        let (setup, configPath) = try await Self.setUp()
        let database = try DatabaseQueue(path: setup.directory.path + "/sync/sync.sqlite")
        let served = "The sync module's log, as it serves it now"
        func tamper(_ sql: String, _ finding: String, in section: String) async throws {
            try await database.write { db in
                try db.execute(sql: "CREATE TABLE saved AS SELECT * FROM accessRecord")
                try db.execute(sql: sql)
            }
            try await Self.expectFinding(configPath, finding, in: section)
            try await database.write { db in
                try db.execute(
                    sql: "DELETE FROM accessRecord; INSERT INTO accessRecord SELECT * FROM saved; DROP TABLE saved")
            }
        }
        let sync = "log = 'sync'"
        try await tamper(
            "UPDATE accessRecord SET record = json_set(record, '$.detail', 'nobody') WHERE \(sync) AND sequence = 2",
            "entry 2 was edited (its hash or signature is wrong)", in: served)
        try await tamper(
            "DELETE FROM accessRecord WHERE \(sync) AND sequence = 3",
            "entry 3 is missing from the log the sync module serves now",
            in: served)
        let (second, third) = try await database.read { db in
            (
                try Int64.fetchOne(db, sql: "SELECT position FROM accessRecord WHERE \(sync) AND sequence = 2") ?? 0,
                try Int64.fetchOne(db, sql: "SELECT position FROM accessRecord WHERE \(sync) AND sequence = 3") ?? 0
            )
        }
        try await tamper(
            """
            UPDATE accessRecord SET position = -1 WHERE position = \(second);
            UPDATE accessRecord SET position = \(second) WHERE position = \(third);
            UPDATE accessRecord SET position = \(third) WHERE position = -1
            """, "entry 2 was moved after entry 3 (reordered)", in: served)
        try await tamper(
            """
            UPDATE accessRecord SET position = position + 1000 WHERE position >
                (SELECT position FROM accessRecord WHERE \(sync) AND sequence = 2);
            INSERT INTO accessRecord (position, log, sequence, record)
                SELECT position + 1, log, sequence, json_set(record, '$.actor', 'owner:mallory')
                FROM accessRecord WHERE \(sync) AND sequence = 2
            """, "an entry was inserted after entry 2", in: served)
        // A sync module hiding one of the doorbell's entries from the owner's page.
        let device = try await database.read { db in
            try String.fetchOne(db, sql: "SELECT log FROM accessRecord WHERE log != 'sync' LIMIT 1")
        }
        try await tamper(
            "DELETE FROM accessRecord WHERE log = '\(try #require(device))' AND sequence = 2",
            "entry 2 is missing from the sync module's copy", in: "The sync module's copy of this doorbell's log")
        #expect(try await Self.verify(configPath).status == 0)
    }
}

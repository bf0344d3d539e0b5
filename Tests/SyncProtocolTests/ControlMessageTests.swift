import Foundation
import Testing

@testable import SyncProtocol

/// Every control message as it travels (docs/protocol.md, Control channel): each kind decodes to
/// what was meant, encodes back to the same JSON, and nothing else decodes.
@Suite("Control messages on the wire", .timeLimit(.minutes(10)))
struct ControlMessageTests {
    /// One fixture per kind and per command, written as the other end sends them.
    static let fixtures: [(json: String, kind: ControlKind, name: CommandName?)] = [
        (#"{"type":"heartbeat","id":""}"#, .heartbeat, nil),
        (#"{"type":"command","id":"1","name":"live-stop"}"#, .command, .liveStop),
        (#"{"type":"command","id":"2","name":"talk-stop","session":"talk-1234"}"#, .command, .talkStop),
        (#"{"type":"command","id":"3","name":"reload-config"}"#, .command, .reloadConfig),
        (#"{"type":"command","id":"4","name":"live-start","signed":"{}","signature":"AA=="}"#, .command, .liveStart),
        (
            #"{"type":"command","id":"5","name":"snapshot-now","signed":"{}","signature":"AA=="}"#, .command,
            .snapshotNow
        ),
        (#"{"type":"command","id":"6","name":"talk-start","signed":"{}","signature":"AA=="}"#, .command, .talkStart),
        (#"{"type":"command","id":"7","name":"quick-reply","signed":"{}","signature":"AA=="}"#, .command, .quickReply),
        (#"{"type":"result","id":"7","ok":false,"reason":"this doorbell has no audio"}"#, .result, nil),
        (#"{"type":"result","id":"6","ok":true,"header":"AAEC"}"#, .result, nil),
        (
            #"{"type":"status","id":"","status":"running: button","backlog":3,"version":"0.1.0","camera":"640x480 MJPEG","replies":["Leave it at the door"],"talkKey":"BAE=","talkKeySignature":"AAE="}"#,
            .status, nil
        ),
        (
            #"{"type":"owner-keys","id":"","keys":[{"id":"k1","label":"phone","publicKey":"BAE=","signature":"AAE="}]}"#,
            .ownerKeys, nil
        ),
        (#"{"type":"access-hello","id":"","have":12,"accessKey":"AAE="}"#, .accessHello, nil),
        (#"{"type":"access-records","id":"","records":[]}"#, .accessRecords, nil),
        (#"{"type":"talk-ended","id":"","session":"talk-1234","reason":"time limit"}"#, .talkEnded, nil),
    ]

    @Test("every kind and every command decodes, and encodes back to the same message")
    func everyMessage() throws {
        #expect(Set(Self.fixtures.map(\.kind)) == Set(ControlKind.allCases))
        #expect(Set(Self.fixtures.compactMap(\.name)) == Set(CommandName.allCases))
        for fixture in Self.fixtures {
            let message = try JSONDecoder().decode(ControlMessage.self, from: Data(fixture.json.utf8))
            #expect(message.kind == fixture.kind, "\(fixture.json)")
            let name: CommandName? = if case .command(let command) = message { command.name } else { nil }
            #expect(name == fixture.name, "\(fixture.json)")
            let encoded = try JSONEncoder().encode(message)
            let again = try JSONDecoder().decode(ControlMessage.self, from: encoded)
            #expect(again == message, "\(fixture.json)")
            // Byte order aside, what is sent is the fixture: no field added, lost or renamed.
            let sent = try JSONSerialization.jsonObject(with: encoded) as? NSDictionary
            let documented = try JSONSerialization.jsonObject(with: Data(fixture.json.utf8)) as? NSDictionary
            #expect(sent != nil && sent == documented, "\(String(decoding: encoded, as: UTF8.self))")
        }
    }

    @Test("the fields of a status report and a result are where the other end reads them")
    func fields() throws {
        let status = try JSONDecoder().decode(
            ControlMessage.self, from: Data(Self.fixtures.first { $0.kind == .status }!.json.utf8))
        guard case .status(let report) = status else {
            Issue.record("not a status report: \(status)")
            return
        }
        #expect(report.status == "running: button" && report.backlog == 3 && report.version == "0.1.0")
        #expect(report.replies == ["Leave it at the door"] && report.talkKey == "BAE=")
        // A doorbell from before quick replies and talk keys: the report still decodes.
        let older = try JSONDecoder().decode(
            ControlMessage.self,
            from: Data(
                #"{"type":"status","id":"","status":"running","backlog":0,"version":"0.0.9","camera":"none"}"#.utf8))
        #expect(older == .status(StatusReport(status: "running", backlog: 0, version: "0.0.9", camera: "none")))
        let refused = try JSONDecoder().decode(ControlMessage.self, from: Data(Self.fixtures[8].json.utf8))
        #expect(refused == .result(ControlResult(id: "7", ok: false, reason: "this doorbell has no audio")))
        // What the factories make is what the fixtures say.
        #expect(ControlMessage.heartbeat.kind == .heartbeat)
        #expect(ControlCommand(.talkStop, id: "2", session: "talk-1234").session == "talk-1234")
        #expect(ControlMessage.talkEnded(session: "s", reason: "r") == .talkEnded(TalkEnded(session: "s", reason: "r")))
    }

    @Test("a message of another type, or a command of another name, does not decode")
    func unknownKinds() {
        for json in [
            #"{"type":"teleport","id":""}"#, #"{"type":"command","id":"9","name":"fly"}"#,
            #"{"type":"command","id":"9","name":"LIVE-START"}"#, #"{"id":"9"}"#, #"{"type":null,"id":""}"#,
            // Each kind's own fields are there.
            #"{"type":"result","id":"9"}"#, #"{"type":"owner-keys","id":""}"#, #"{"type":"talk-ended","id":""}"#,
            #"{"type":"status","id":"","status":"running"}"#, #"{"type":"heartbeat"}"#,
        ] {
            #expect(throws: (any Error).self, "\(json)") {
                try JSONDecoder().decode(ControlMessage.self, from: Data(json.utf8))
            }
        }
    }
}

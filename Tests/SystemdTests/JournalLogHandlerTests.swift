import DoorbellCore
import DoorbellTestKit
import Logging
import Systemd
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Parses journald's native serialization back into fields.
func parseJournalEntry(_ bytes: [UInt8]) -> [String: String] {
    var fields: [String: String] = [:]
    var index = 0
    while index < bytes.count {
        guard let end = bytes[index...].firstIndex(where: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "=") })
        else {
            break
        }
        let name = String(decoding: bytes[index..<end], as: UTF8.self)
        if bytes[end] == UInt8(ascii: "=") {
            let valueEnd = bytes[end...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            fields[name] = String(decoding: bytes[(end + 1)..<valueEnd], as: UTF8.self)
            index = valueEnd + 1
        } else {
            var length: UInt64 = 0
            for (shift, byte) in bytes[(end + 1)..<(end + 9)].enumerated() {
                length |= UInt64(byte) << (8 * UInt64(shift))
            }
            let start = end + 9
            fields[name] = String(decoding: bytes[start..<(start + Int(length))], as: UTF8.self)
            index = start + Int(length) + 1
        }
    }
    return fields
}

@Suite("journald log handler", .timeLimit(.minutes(10)))
struct JournalLogHandlerTests {
    @Test("an entry carries priority, identifier, code location and metadata as PORCHLIGHT_ fields")
    func fieldsRoundTrip() async throws {
        let socket = try DatagramRecorder()
        let handler = JournalLogHandler(
            label: "porchlightd.camera", identifier: "porchlightd", socketPath: socket.path,
            level: SharedLogLevel(.info))
        var logger = Logger(label: "porchlightd.camera") { _ in handler }
        logger[metadataKey: LogKey.device] = "/dev/video0"
        let line: UInt = #line + 1
        logger.warning("Camera lost.", metadata: [LogKey.eventID: "e-42", "sl-service": "Camera"])

        let entry = parseJournalEntry(try #require(await socket.next()))
        #expect(entry["MESSAGE"] == "Camera lost.")
        #expect(entry["PRIORITY"] == "4")
        #expect(entry["SYSLOG_IDENTIFIER"] == "porchlightd")
        #expect(entry["CODE_FILE"] == #fileID)
        #expect(entry["CODE_LINE"] == "\(line)")
        #expect(entry["CODE_FUNC"] == "fieldsRoundTrip()")
        #expect(entry["PORCHLIGHT_LOGGER"] == "porchlightd.camera")
        #expect(entry["PORCHLIGHT_DEVICE"] == "/dev/video0")
        #expect(entry["PORCHLIGHT_EVENT_ID"] == "e-42")
        #expect(entry["PORCHLIGHT_SL_SERVICE"] == "Camera")
    }

    @Test("a message with newlines uses the length-prefixed form and survives intact")
    func multilineMessage() async throws {
        let socket = try DatagramRecorder()
        let handler = JournalLogHandler(
            label: "t", identifier: "porchlightd", socketPath: socket.path, level: SharedLogLevel(.info))
        let logger = Logger(label: "t") { _ in handler }
        logger.error("first line\nsecond line=with equals")
        let entry = parseJournalEntry(try #require(await socket.next()))
        #expect(entry["MESSAGE"] == "first line\nsecond line=with equals")
        #expect(entry["PRIORITY"] == "3")
    }

    @Test("entries below the shared level are dropped, and a change to the level applies at once")
    func levelIsShared() async throws {
        let socket = try DatagramRecorder()
        let level = SharedLogLevel(.warning)
        let handler = JournalLogHandler(label: "t", identifier: "porchlightd", socketPath: socket.path, level: level)
        let logger = Logger(label: "t") { _ in handler }
        logger.info("hidden")
        #expect(await socket.next(timeout: .milliseconds(100)) == nil)
        level.value = .debug
        logger.debug("shown")
        #expect(parseJournalEntry(try #require(await socket.next()))["MESSAGE"] == "shown")
    }

    @Test("metadata keys become valid journald field names")
    func fieldNames() {
        #expect(JournalLogHandler.fieldName("event_id") == "PORCHLIGHT_EVENT_ID")
        #expect(JournalLogHandler.fieldName("sl-service") == "PORCHLIGHT_SL_SERVICE")
        #expect(JournalLogHandler.fieldName("Ümlaut.key") == "PORCHLIGHT___MLAUT_KEY")
        #expect(JournalLogHandler.fieldName(String(repeating: "a", count: 100)).utf8.count == 64)
    }

    @Test("JOURNAL_STREAM selects the journal only when it names stderr")
    func journalStreamDetection() {
        var info = stat()
        #expect(fstat(STDERR_FILENO, &info) == 0)
        let matching = "\(info.st_dev):\(info.st_ino)"
        #expect(
            LogDestination.detect(environment: ["JOURNAL_STREAM": matching])
                == .journal(socketPath: JournalLogHandler.defaultSocket))
        #expect(LogDestination.detect(environment: ["JOURNAL_STREAM": "1:2"]) == .console)
        #expect(LogDestination.detect(environment: [:]) == .console)
    }
}

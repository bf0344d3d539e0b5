import Logging
import Synchronization
import Testing

@testable import SyncModule

/// Lines as a log handler receives them.
final class RecordedLines: Sendable {
    let lines = Mutex<[(Logger.Message, Logger.Metadata?)]>([])

    struct Handler: LogHandler {
        let recorded: RecordedLines
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(
            level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
            function: String, line: UInt
        ) {
            recorded.lines.withLock { $0.append((message, metadata)) }
        }
    }
}

@Suite("Refusals logged once per 10 s", .timeLimit(.minutes(10)))
struct RefusalLogTests {
    @Test("a thousand refusals in a burst are one line, not a thousand")
    func flood() {
        let recorded = RecordedLines()
        let logger = Logger(label: "test") { _ in RecordedLines.Handler(recorded: recorded) }
        let refusals = RefusalLog()
        for index in 0..<1000 {
            refusals.log("Refused the doorbell's access-log entries.", metadata: ["n": "\(index)"], logger: logger)
        }
        let lines = recorded.lines.withLock { $0 }
        #expect(lines.count == 1)
        #expect(lines.first?.1?["n"] == "0" && lines.first?.1?["refused_since_last_line"] == "0")
    }
}

import DoorbellTestKit
import Systemd
import Testing

@Suite("sd_notify protocol", .timeLimit(.minutes(10)))
struct NotifierTests {
    @Test("assignments arrive as one newline-separated datagram")
    func notifySendsOneDatagram() async throws {
        let socket = try DatagramRecorder()
        let notifier = try Notifier(socketPath: socket.path)
        try notifier.notify(["READY=1", "STATUS=all good"])
        #expect(await socket.nextMessage() == "READY=1\nSTATUS=all good")
    }

    @Test("without NOTIFY_SOCKET the notifier does nothing and does not fail")
    func disabledNotifier() throws {
        let notifier = try Notifier(socketPath: nil)
        #expect(!notifier.isEnabled)
        try notifier.notify(["READY=1"])
    }

    @Test("a socket that is gone is a typed error naming the path and the cause")
    func missingSocket() throws {
        let directory = try TemporaryDirectory()
        let notifier = try Notifier(socketPath: "\(directory.path)/gone.sock")
        let error = #expect(throws: SystemCallError.self) { try notifier.notify(["READY=1"]) }
        #expect(error?.description == "cannot send to \(directory.path)/gone.sock: No such file or directory")
    }

    @Test("the watchdog interval is half of WATCHDOG_USEC, and only for this process")
    func watchdogInterval() {
        #expect(Notifier.watchdogInterval(environment: ["WATCHDOG_USEC": "20000000"]) == .seconds(10))
        #expect(Notifier.watchdogInterval(environment: [:]) == nil)
        #expect(Notifier.watchdogInterval(environment: ["WATCHDOG_USEC": "0"]) == nil)
        #expect(Notifier.watchdogInterval(environment: ["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"]) == nil)
    }
}

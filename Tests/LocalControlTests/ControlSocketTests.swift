import DoorbellTestKit
import Logging
import ServiceLifecycle
import Testing

@testable import LocalControl

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a control server on a fresh path for the duration of `body`.
func withControlServer(
    handler: @escaping @Sendable (String) -> String, _ body: (String) async throws -> Void
) async throws {
    let directory = try TemporaryDirectory()
    let path = directory.path + "/control.sock"
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    let group = ServiceGroup(services: [ControlServer(path: path, logger: logger, handler: handler)], logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        #expect(await eventually { access(path, F_OK) == 0 })
        try await body(path)
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
    #expect(access(path, F_OK) != 0, "the socket file is removed at shutdown")
}

@Suite("Control socket", .timeLimit(.minutes(10)))
struct ControlSocketTests {
    @Test("a command gets the handler's reply")
    func commandAndReply() async throws {
        try await withControlServer(handler: { "ok: you said \($0)" }) { path in
            let ring = try ControlClient.send("ring", to: path)
            let dnd = try ControlClient.send("dnd on", to: path)
            #expect(ring == "ok: you said ring")
            #expect(dnd == "ok: you said dnd on")
        }
    }

    @Test("the socket file is readable and writable by its owner only")
    func ownerOnly() async throws {
        try await withControlServer(handler: { _ in "ok" }) { path in
            var info = stat()
            #expect(stat(path, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o600)
        }
    }

    @Test("a line longer than the limit is refused with an error reply")
    func overlongLine() async throws {
        try await withControlServer(handler: { _ in "ok" }) { path in
            let reply = try ControlClient.send(String(repeating: "x", count: 5000), to: path)
            #expect(reply.hasPrefix("error: expected one command line"))
        }
    }

    @Test("a second server on a live socket refuses to start instead of stealing it")
    func secondServerRefuses() async throws {
        try await withControlServer(handler: { _ in "ok" }) { path in
            let error = #expect(throws: ControlError.self) { _ = try ControlServer.listen(at: path) }
            #expect(error?.errno == EADDRINUSE)
            let status = try ControlClient.send("status", to: path)
            #expect(status == "ok")
        }
    }

    @Test("a stale socket file left by a crash is replaced")
    func staleSocketIsReplaced() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/control.sock"
        let stale = try ControlServer.listen(at: path)
        close(stale)  // the file stays, nobody listens
        let fresh = try ControlServer.listen(at: path)
        close(fresh)
        unlink(path)
    }

    @Test("the client names the socket and suggests checking the daemon when nobody listens")
    func noDaemon() throws {
        let directory = try TemporaryDirectory()
        let error = #expect(throws: ControlError.self) {
            _ = try ControlClient.send("ring", to: directory.path + "/none.sock")
        }
        #expect(
            error?.description
                == "cannot connect to \(directory.path)/none.sock: No such file or directory (is porchlightd running?)")
    }
}

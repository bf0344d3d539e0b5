import DoorbellTestKit
import Foundation
import Testing

/// The README's demo, as a user runs it (on its own port and state here).
@Suite("The demo", .serialized, .timeLimit(.minutes(10)))
struct DemoTests {
    @Test("the demo owns the daemon it starts: killed outright, it takes the daemon with it")
    func daemonStopsWithTheDemo() async throws {
        let directory = try TemporaryDirectory()
        let config = try String(contentsOfFile: repositoryRoot + "/config/demo.toml", encoding: .utf8)
            .replacingOccurrences(of: "\"/tmp/porchlight-demo\"", with: "\"\(directory.path)/doorbell\"")
            .replacingOccurrences(of: "\"/tmp/porchlight-demo-run\"", with: "\"\(directory.path)/run\"")
            .replacingOccurrences(
                of: "\"../demo/porch_640x480.mjpeg\"", with: "\"\(repositoryRoot)/demo/porch_640x480.mjpeg\"")
        let path = try directory.write("demo.toml", config)
        let demo = try ChildProcess(
            "porchlight-demo", arguments: ["--config", path, "--port", "0", "--sync-state", directory.path + "/sync"])
        try demo.start()
        var daemon: Int32?
        #expect(
            await eventually(timeout: .seconds(120)) {
                daemon = Self.children(of: demo.process.processIdentifier).first { Self.name(of: $0) == "porchlightd" }
                return daemon != nil && demo.stdout.contains("Porchlight demo")
            }, "stderr:\n\(demo.stderr)")
        let pid = try #require(daemon)
        // Whatever the outcome, no daemon is left behind by this test.
        defer { if Self.alive(pid) { kill(pid, SIGKILL) } }
        demo.signal(SIGKILL)
        #expect(await eventually(timeout: .seconds(30)) { !Self.alive(pid) }, "the daemon outlived the demo")
    }

    /// The children of `pid`'s threads, from /proc.
    static func children(of pid: Int32) -> [Int32] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
    }

    static func name(of pid: Int32) -> String? {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether `pid` runs: it exists and is not a zombie waiting for whoever adopted it.
    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first != "Z"
    }
}

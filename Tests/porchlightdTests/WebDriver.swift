import AsyncHTTPClient
import DoorbellTestKit
import Foundation
import NIOCore
import NIOFoundationCompat
import Testing

/// A minimal W3C WebDriver client for Debian's chromedriver driving headless Chromium: enough to
/// navigate, fill and click, run a script, and take a screenshot.
final class WebDriver: @unchecked Sendable {
    let driver: Process
    let port: Int
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    private(set) var session = ""

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init() async throws {
        port = 9515 + Int.random(in: 1..<2000)
        driver = Process()
        driver.executableURL = URL(fileURLWithPath: "/usr/bin/chromedriver")
        driver.arguments = ["--port=\(port)"]
        driver.standardOutput = FileHandle.nullDevice
        driver.standardError = FileHandle.nullDevice
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") else {
            throw Failure(
                description: "chromedriver is missing: apt-get install chromium chromium-driver (.ci/install)")
        }
        try driver.run()
        let deadline = ContinuousClock.now + .seconds(20)
        while (try? await call("GET", "/status")) == nil {
            guard ContinuousClock.now < deadline else { throw Failure(description: "chromedriver did not start") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let capabilities: [String: Any] = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    // The sync module's certificate is its own; the tests trust it like an owner who
                    // checked the fingerprint.
                    "acceptInsecureCerts": true,
                    "goog:chromeOptions": [
                        "binary": "/usr/bin/chromium",
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--window-size=1100,900", "--ignore-certificate-errors",
                            // A synthetic microphone (a beep), granted without a prompt, for talk.
                            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                            "--autoplay-policy=no-user-gesture-required",
                        ],
                    ],
                ]
            ]
        ]
        let created = try await call("POST", "/session", capabilities)
        guard let value = created["value"] as? [String: Any], let id = value["sessionId"] as? String else {
            throw Failure(description: "no session: \(created)")
        }
        session = id
    }

    @discardableResult
    func call(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .init(rawValue: method)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await client.execute(request, timeout: .seconds(60))
        var buffer = try await response.body.collect(upTo: 64 << 20)
        let data = buffer.readData(length: buffer.readableBytes) ?? Data()
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        if response.status.code >= 400 {
            throw Failure(description: "WebDriver \(method) \(path): \(response.status.code) \(object["value"] ?? "")")
        }
        return object
    }

    func open(_ url: String) async throws {
        try await call("POST", "/session/\(session)/url", ["url": url])
    }

    func element(_ css: String) async throws -> String {
        let found = try await call("POST", "/session/\(session)/element", ["using": "css selector", "value": css])
        guard let value = found["value"] as? [String: Any], let id = value.values.first as? String else {
            throw Failure(description: "no element \(css)")
        }
        return id
    }

    func type(_ css: String, _ text: String) async throws {
        try await call("POST", "/session/\(session)/element/\(try await element(css))/value", ["text": text])
    }

    func click(_ css: String) async throws {
        try await call("POST", "/session/\(session)/element/\(try await element(css))/click", [:])
    }

    /// Runs a script in the page and returns its result.
    func script(_ source: String) async throws -> Any? {
        try await call("POST", "/session/\(session)/execute/sync", ["script": source, "args": []])["value"]
    }

    /// Runs an async script (it calls `arguments[0]` with its result) and returns the result.
    func asyncScript(_ source: String) async throws -> Any? {
        try await call("POST", "/session/\(session)/execute/async", ["script": source, "args": []])["value"]
    }

    /// A Chrome DevTools protocol command, through chromedriver; returns its result.
    @discardableResult
    func devTools(_ command: String, _ parameters: [String: Any] = [:]) async throws -> [String: Any] {
        let answer = try await call(
            "POST", "/session/\(session)/goog/cdp/execute", ["cmd": command, "params": parameters])
        return answer["value"] as? [String: Any] ?? [:]
    }

    func currentURL() async throws -> String {
        try await call("GET", "/session/\(session)/url")["value"] as? String ?? ""
    }

    /// Saves a PNG screenshot of the page to `path`.
    func screenshot(to path: String) async throws {
        let shot = try await call("GET", "/session/\(session)/screenshot")
        guard let base64 = shot["value"] as? String, let png = Data(base64Encoded: base64) else {
            throw Failure(description: "no screenshot")
        }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try png.write(to: URL(fileURLWithPath: path))
    }

    func quit() async {
        _ = try? await call("DELETE", "/session/\(session)")
        // chromedriver does not always end on SIGTERM; nothing of it needs to be kept.
        kill(driver.processIdentifier, SIGKILL)
        while driver.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        try? await client.shutdown()
    }
}

/// Where the browser tests leave their screenshots (a build artefact, not committed).
let artifactsDirectory =
    ProcessInfo.processInfo.environment["PORCHLIGHT_ARTIFACTS"] ?? repositoryRoot + "/.build/artifacts"

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Testing

/// Hostile clients against the real `porchlight-sync` binary on loopback: what a stranger on the
/// home network can send, bounded in count and time.
@Suite("Hostile clients against the sync module", .serialized)
struct HostileClientTests {
    /// An HTTPS client that trusts the self-signed certificate, follows no redirects and opens as
    /// many connections as it is asked to, so that a burst arrives at once.
    static func client() -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 200)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    static func send(
        _ client: HTTPClient, _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: String? = nil
    ) async throws -> (status: Int, body: String, headers: HTTPHeaders) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(60))
        var buffer = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), buffer.readString(length: buffer.readableBytes) ?? "", response.headers)
    }

    @Test("100 wrong logins at once get 5 password checks; the rest are refused at once, and health still answers")
    func loginBurst() async throws {
        let setup = try await PairedSetup()
        defer { setup.sync.signal(SIGTERM) }
        try await setup.startWithOwner()
        let base = "https://127.0.0.1:\(setup.port)"
        let client = Self.client()
        defer { _ = client.shutdown() }

        // One login form's token pair serves every try (it is a double-submit token, not a nonce).
        let form = try await Self.send(client, .GET, base + "/login")
        let token = try #require(form.body.firstMatch(of: /name="csrf" value="([^"]+)"/)?.1)
        let cookie = try #require(
            form.headers["Set-Cookie"].first { $0.hasPrefix("porchlight_login=") }?.split(separator: ";").first)
        let headers = [("Cookie", String(cookie)), ("Content-Type", "application/x-www-form-urlencoded")]

        // Half the tries name the owner and half a name that does not exist: both are checked
        // against a hash, so both count and both are answered alike.
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for attempt in 0..<100 {
                let name = attempt.isMultiple(of: 2) ? BrowserTests.owner : "nobody-\(attempt)"
                group.addTask {
                    try await Self.send(
                        client, .POST, base + "/login", headers: headers,
                        body: "csrf=\(token)&name=\(name)&password=wrong+\(attempt)"
                    ).status
                }
            }
            // The health check answers while the burst is being checked.
            let health = ContinuousClock.now
            #expect(try await Self.send(client, .GET, base + "/v1/health").status == 200)
            let healthTime = ContinuousClock.now - health
            print("health during 100 wrong logins: \(healthTime)")
            #expect(healthTime < .seconds(1))
            var statuses = [Int]()
            for try await status in group { statuses.append(status) }
            return statuses
        }
        let counted = Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count)
        print("100 wrong logins at once: \(counted.sorted { $0.key < $1.key })")
        // 401 is a password check that ran and failed; 429 a try refused before any check.
        #expect(counted[401] == 5)
        #expect(counted[429] == 95)
        // The address has used its tries: even the right password now waits.
        let right = try await Self.send(
            client, .POST, base + "/login", headers: headers,
            body: "csrf=\(token)&name=\(BrowserTests.owner)&password=a+long+test+password")
        #expect(right.status == 429)
        #expect(right.headers["Retry-After"].first.flatMap(Int.init).map { $0 > 0 && $0 <= 300 } == true)
    }
}

import AsyncHTTPClient
import DoorbellTestKit
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Privacy
import Testing
import Uplink

/// The owner's web page in a real headless Chromium (Debian's, through chromedriver), against the
/// real `porchlight-sync` and a real `porchlightd` on the bundled footage, paired as an owner would.
@Suite("The web page in a real browser", .serialized, .timeLimit(.minutes(10)))
struct BrowserTests {
    static let owner = "tester"
    static let password = "a long test password"

    @Test("log in, timeline, a ring live within 1 s, a clip plays, live view streams and stops; refusals")
    func ownerJourney() async throws {
        let setup = try await PairedSetup()
        defer { setup.sync.signal(SIGTERM) }
        try await setup.startWithOwner()

        // The door's sound card: file-backed ALSA devices, a steady tone at the microphone, and a
        // quick reply of a known constant.
        let (sound, configPath) = try setup.soundDoorbell()
        try await setup.pair(configPath: configPath)
        let daemon = try ChildProcess(
            "porchlightd", arguments: ["--config", configPath],
            environment: ["ALSA_CONFIG_PATH": ALSAFiles.configurationPath])
        try daemon.start()
        try #require(await daemon.notify.waitFor("READY=1") != nil, "stderr:\n\(daemon.stderr)")
        let base = "https://localhost:\(setup.port)"

        let browser = try await WebDriver()
        do {
            try await journey(browser, base: base, daemon: daemon, configPath: configPath)
            try await talk(browser, base: base, daemon: daemon, sound: sound)
        } catch {
            try? await browser.screenshot(to: artifactsDirectory + "/failure.png")
            await browser.quit()
            throw error
        }
        await browser.quit()
        try await refusals(base: base)
        #expect(await daemon.terminate() == 0)
    }

    func journey(_ browser: WebDriver, base: String, daemon: ChildProcess, configPath: String) async throws {
        // Logged out, the page sends the browser to the login; the first sign-in leads to the keys,
        // and the doorbell seals for them once the owner pins the recovery key there.
        try await browser.open(base + "/")
        #expect(try await browser.currentURL().hasSuffix("/login"))
        try await browser.logInAndMakeKey(base: base, passphrase: "correct horse battery")
        try await browser.pinRecovery(configPath: configPath)
        try await browser.open(base + "/")
        #expect(
            await eventually(timeout: .seconds(30)) {
                ((try? await browser.script("return !document.getElementById('unlock').hidden")) as? Bool) == true
            })
        try await browser.type("#unlock-passphrase", "correct horse battery")
        try await browser.click("#unlock button[type=submit]")
        #expect(
            await eventually(timeout: .seconds(30)) {
                ((try? await browser.script("return !!sessionStorage.getItem('porchlight-unlocked')")) as? Bool)
                    == true
            }, "the key did not unlock")

        // The footage has people walking: motion events with snapshots fill the timeline.
        let snapshots = "return document.querySelectorAll('#timeline img').length"
        #expect(
            await eventually(timeout: .seconds(60)) {
                try? await browser.open(base + "/")
                return ((try? await browser.script(snapshots)) as? Int ?? 0) > 0
            })

        // A ring appears without a reload within 1 s of `porchlightctl ring` returning.
        _ = try await browser.script("window.notReloaded = true")
        #expect(
            await eventually(timeout: .seconds(30)) {
                ((try? await browser.script("return document.getElementById('live-status').textContent")) as? String)?
                    .contains("on") == true
            })
        let rings = "return document.querySelectorAll('#timeline li[data-kind=ring]').length"
        let before = try await browser.script(rings) as? Int ?? 0
        let ring = try ChildProcess("porchlightctl", arguments: ["ring", "--config", configPath])
        #expect(try await ring.runToExit() == 0)
        let rang = ContinuousClock.now
        #expect(
            await eventually(timeout: .seconds(1), poll: .milliseconds(20)) {
                ((try? await browser.script(rings)) as? Int ?? 0) > before
            }, "the ring did not appear within 1 s")
        let shown = ContinuousClock.now - rang
        print("ring shown on the page \(shown) after porchlightctl ring returned")
        #expect(try await browser.script("return window.notReloaded === true") as? Bool == true)
        try await browser.screenshot(to: artifactsDirectory + "/timeline.png")
        // On a phone-sized screen nothing scrolls sideways.
        try await browser.call("POST", "/session/\(browser.session)/window/rect", ["width": 390, "height": 844])
        #expect(
            try await browser.script("return document.documentElement.scrollWidth <= window.innerWidth + 1") as? Bool
                == true)
        try await browser.screenshot(to: artifactsDirectory + "/timeline-phone.png")
        try await browser.call("POST", "/session/\(browser.session)/window/rect", ["width": 1100, "height": 900])

        // Its clip arrives (pre-roll 1 s, post-roll 1 s) and plays in the page's player.
        let clipLink = "return document.querySelector('#timeline a.clip')?.getAttribute('href') || ''"
        var clip = ""
        #expect(
            await eventually(timeout: .seconds(60)) {
                clip = (try? await browser.script(clipLink)) as? String ?? ""
                return !clip.isEmpty
            })
        try await browser.open(base + clip)
        #expect(
            await eventually(timeout: .seconds(30)) {
                ((try? await browser.script("return window.porchlightPlayer?.frames || 0")) as? Int ?? 0) > 0
            })
        try await browser.click("#play")
        #expect(
            await eventually(timeout: .seconds(30)) {
                ((try? await browser.script("return window.porchlightPlayer.currentTime")) as? Double ?? 0) > 0.5
            }, "the clip player reports no progress")
        try await browser.screenshot(to: artifactsDirectory + "/clip.png")
        // A GET of the clip (a link preview, a prefetch, an <img> on another page) opens nothing.
        let source = "return fetch(document.getElementById('player').dataset.source).then((r) => r.status)"
        #expect(try await browser.script(source) as? Int == 405)

        // Live view: changing frames, then the page closes and the doorbell stops streaming.
        try await browser.open(base + "/devices")
        let liveLink = "return document.querySelector('a[href^=\"/live/\"]')?.getAttribute('href') || ''"
        var live = ""
        #expect(
            await eventually(timeout: .seconds(30)) {
                try? await browser.open(base + "/devices")
                live = (try? await browser.script(liveLink)) as? String ?? ""
                return !live.isEmpty
            })
        try await browser.open(base + live)
        try await browser.click("#live-start")
        let frames = "return Number(document.getElementById('live-canvas').dataset.frames)"
        let picture = "return document.getElementById('live-canvas').toDataURL('image/jpeg', 0.5).length"
        #expect(await eventually(timeout: .seconds(30)) { ((try? await browser.script(frames)) as? Int ?? 0) >= 3 })
        let firstPicture = try await browser.script(picture) as? Int
        #expect(
            await eventually(timeout: .seconds(30)) {
                ((try? await browser.script(picture)) as? Int) != firstPicture
            }, "the live view does not change")
        try await browser.screenshot(to: artifactsDirectory + "/live.png")
        try await browser.open(base + "/access")
        #expect(
            await eventually(timeout: .seconds(30)) { daemon.stderr.contains("Live view ended.") },
            "the doorbell kept streaming after the page closed")
        let access = try await browser.script("return document.querySelector('main').textContent") as? String ?? ""
        #expect(access.contains("live-view"))
        // One entry for the one opening of the clip: the refused GET wrote none.
        #expect(access.components(separatedBy: "clip-view").count - 1 == 1, "\(access)")
        #expect(access.contains("Sync module: "))
        #expect(!access.contains("Altered"))
        // The doorbell's own entries, mirrored to the sync module and verified against its key.
        var mirrored = ""
        for _ in 0..<20 where !mirrored.contains("live-view-end") {
            try await Task.sleep(for: .milliseconds(500))
            try await browser.open(base + "/access")
            mirrored = try await browser.script("return document.querySelector('main').textContent") as? String ?? ""
        }
        #expect(mirrored.contains("live-view-end"), "\(mirrored)")
        #expect(mirrored.contains("Doorbell ") && !mirrored.contains("Altered"), "\(mirrored)")
    }

    static let replyLevel: Int16 = 1234

    /// A mono 16 kHz 16-bit WAV of one constant value.
    static func wav(constant: Int16, samples: Int) -> [UInt8] {
        wavBytes(channels: 1, rate: 16_000, bits: 16, data: le16([Int16](repeating: constant, count: samples)))
    }

    /// On the live page: a quick reply plays at the door; talk opens the browser's microphone
    /// (Chromium's synthetic one), its frames reach the door's speaker and the door's microphone
    /// reaches the page; both are in the access log.
    func talk(_ browser: WebDriver, base: String, daemon: ChildProcess, sound: ALSAFiles) async throws {
        try await browser.open(base + "/devices")
        let liveLink = "return document.querySelector('a[href^=\"/live/\"]')?.getAttribute('href') || ''"
        let live = try await browser.script(liveLink) as? String ?? ""
        let replies = "return document.querySelectorAll('button.reply').length"
        #expect(
            await eventually(timeout: .seconds(30)) {
                try? await browser.open(base + live)
                return ((try? await browser.script(replies)) as? Int ?? 0) == 1
            }, "the page lists no quick reply")
        try await browser.click("button.reply")
        let replyPlayed = {
            var run = 0
            for sample in sound.played {
                run = sample == Self.replyLevel ? run + 1 : 0
                if run == 3200 { return true }
            }
            return false
        }
        #expect(await eventually(timeout: .seconds(30)) { replyPlayed() }, "the quick reply did not play at the door")

        let counter = { (name: String) in "return Number(document.getElementById('talk').dataset.\(name))" }
        try await browser.click("#talk-toggle")
        #expect(
            await eventually(timeout: .seconds(30)) {
                ((try? await browser.script(counter("heard"))) as? Int ?? 0) >= 25
            }, "the door's microphone did not reach the page")
        #expect(
            await eventually(timeout: .seconds(30)) {
                ((try? await browser.script(counter("sent"))) as? Int ?? 0) >= 25
            }, "the page sent no microphone frames")
        // Sealed both ways: the page opened every frame of the door's, and the door every one of its.
        let refused = try await browser.script("return document.getElementById('talk').dataset.refused || '0'")
        #expect(refused as? String == "0", "the page refused the door's audio: \(String(describing: refused))")
        #expect(daemon.stderr.contains("Talk session started."))
        // The browser's beep reaches the door's speaker: samples louder than anything else played.
        #expect(
            await eventually(timeout: .seconds(30)) { sound.played.contains { abs(Int($0)) > 3000 } },
            "the owner's voice did not reach the door's speaker")
        try await browser.screenshot(to: artifactsDirectory + "/talk.png")
        try await browser.click("#talk-end")
        #expect(
            await eventually(timeout: .seconds(30)) { daemon.stderr.contains("Talk session ended.") },
            "the talk session did not end at the door")
        // The uplink's counters are logged as its task ends, which can follow "Talk session ended.".
        #expect(
            await eventually(timeout: .seconds(30)) { daemon.stderr.contains("talk frames on the control channel") })
        let counts = daemon.stderr.split(separator: "\n").last { $0.contains("talk frames on the control channel") }
        #expect(counts?.contains("refused=0") == true, "\(counts ?? "")")
        try await browser.open(base + "/access")
        let access = try await browser.script("return document.querySelector('main').textContent") as? String ?? ""
        #expect(access.contains("quick-reply"))
        #expect(access.contains("talk"))
    }

    /// Logged-out requests and a form without its CSRF token change nothing and show nothing.
    func refusals(base: String) async throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .none
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        defer { _ = client.shutdown() }
        func send(_ method: HTTPMethod, _ path: String, cookie: String? = nil, body: String? = nil) async throws
            -> (Int, String, [String])
        {
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            if let cookie { request.headers.add(name: "Cookie", value: cookie) }
            if let body {
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response = try await client.execute(request, timeout: .seconds(30))
            var buffer = try await response.body.collect(upTo: 16 << 20)
            return (
                Int(response.status.code), buffer.readString(length: buffer.readableBytes) ?? "",
                response.headers["Set-Cookie"] + response.headers["Location"]
            )
        }
        let (pageStatus, _, pageHeaders) = try await send(.GET, "/")
        #expect(pageStatus == 303)
        #expect(pageHeaders.contains("/login"))
        for path in ["/media/any/any-snapshot", "/media/any/any-clip?download=1", "/events/stream", "/live/any/stream"]
        {
            #expect(try await send(.GET, path).0 == 401, "\(path)")
        }
        // Log in over HTTP, then post without the token.
        let (_, form, cookies) = try await send(.GET, "/login")
        let token = try #require(form.firstMatch(of: /name="csrf" value="([^"]+)"/)?.1)
        let loginCookie = try #require(cookies.first { $0.hasPrefix("porchlight_login=") }?.split(separator: ";").first)
        let (loginStatus, _, loginHeaders) = try await send(
            .POST, "/login", cookie: String(loginCookie),
            body: "csrf=\(token)&name=\(Self.owner)&password=a+long+test+password")
        #expect(loginStatus == 303)
        let session = try #require(
            loginHeaders.first { $0.hasPrefix("porchlight_session=") }?.split(separator: ";").first)
        #expect(try await send(.GET, "/", cookie: String(session)).0 == 200)
        #expect(try await send(.POST, "/logout", cookie: String(session), body: "").0 == 403)
        #expect(try await send(.POST, "/live/any/start", cookie: String(session), body: "").0 == 403)
        #expect(try await send(.POST, "/logout", cookie: String(session), body: "csrf=wrong").0 == 403)
        // The session survived the refused logout.
        #expect(try await send(.GET, "/", cookie: String(session)).0 == 200)
        // A form posted to the login without the login token is refused too.
        #expect(try await send(.POST, "/login", body: "name=\(Self.owner)&password=x").0 == 403)
    }
}

/// Sealed media opened by the page's script in a real Chromium, with WebCrypto only, from items
/// sealed by the daemon's Swift code: the browser side of end-to-end encryption.
@Suite("Sealed media in a real browser", .serialized, .timeLimit(.minutes(10)))
struct SealedMediaBrowserTests {
    static func jwk(_ key: OwnerKey) -> String {
        func url(_ data: some Collection<UInt8>) -> String {
            Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let point = Array(key.publicKey.x963)
        return """
            {"kty":"EC","crv":"P-256","d":"\(url(key.rawRepresentation))","x":"\(url(point[1..<33]))","y":"\(url(point[33..<65]))","ext":true}
            """
    }

    /// Loads the script into the page, opens `sealed` with `key`, and gives back the plaintext in
    /// base64 with its completeness, or the error's message.
    static func open(_ browser: WebDriver, _ sealed: [UInt8], with key: OwnerKey) async throws -> String {
        let script = """
            const done = arguments[arguments.length - 1];
            (async () => {
              if (!window.porchlightSealed) {
                await new Promise((resolve, reject) => {
                  const tag = document.createElement("script"); tag.src = "/static/sealed.js";
                  tag.onload = resolve; tag.onerror = reject; document.head.appendChild(tag);
                });
              }
              const key = await crypto.subtle.importKey("jwk", \(jwk(key)), { name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
              const bytes = Uint8Array.from(atob("\(Data(sealed).base64EncodedString())"), (c) => c.charCodeAt(0));
              const opened = await porchlightSealed.open(bytes, key);
              let binary = ""; opened.plaintext.forEach((b) => binary += String.fromCharCode(b));
              return (opened.complete ? "complete:" : "partial:") + btoa(binary);
            })().then(done, (error) => done("error:" + error.message));
            """
        return try await browser.call(
            "POST", "/session/\(browser.session)/execute/async", ["script": script, "args": []])[
                "value"] as? String ?? "no answer"
    }

    @Test("the page's script opens what the doorbell sealed: whole, partial, for either key; refuses the rest")
    func openInBrowser() async throws {
        let setup = try await PairedSetup()
        try setup.sync.start()
        defer { setup.sync.signal(SIGTERM) }
        try #require(await setup.sync.notify.waitFor("READY=1") != nil, "stderr:\n\(setup.sync.stderr)")
        let browser = try await WebDriver()
        do {
            try await checks(browser, base: "https://localhost:\(setup.port)")
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
    }

    func checks(_ browser: WebDriver, base: String) async throws {
        try await browser.open(base + "/login")

        let phone = OwnerKey()
        let laptop = OwnerKey()
        let plaintext = (0..<150_000).map { UInt8(truncatingIfNeeded: $0 * 31 + 7) }
        var sealer = try MediaSealer(
            media: "evt-9-clip", kind: "clip", recipients: [phone.publicKey, laptop.publicKey])
        let sealed = sealer.header + sealer.seal(plaintext) + sealer.finish()
        let expected = Data(plaintext).base64EncodedString()

        #expect(try await Self.open(browser, sealed, with: phone) == "complete:" + expected)
        #expect(try await Self.open(browser, sealed, with: laptop) == "complete:" + expected)
        // Cut inside the last chunk: the first two 64 KiB chunks open, marked partial.
        let cut = try await Self.open(browser, Array(sealed.dropLast(100)), with: phone)
        #expect(cut == "partial:" + Data(plaintext.prefix(2 * 65_536)).base64EncodedString())
        var altered = sealed
        altered[sealed.count - 5000] ^= 0x40
        #expect(try await Self.open(browser, altered, with: phone).hasPrefix("error:chunk 2"))
        #expect(
            try await Self.open(browser, sealed, with: OwnerKey()).hasPrefix("error:this item is sealed for other keys")
        )
        try await Self.bindings(browser, sealed: sealed, key: phone, expected: expected)
    }

    /// The page opens an item only as what it asked for: the id and kind in the sealed header must
    /// match, so a sync module cannot serve an old clip, or a snapshot, as this event's clip.
    static func bindings(_ browser: WebDriver, sealed: [UInt8], key: OwnerKey, expected: String) async throws {
        func openItem(_ expect: String) async throws -> String {
            let script = """
                const done = arguments[arguments.length - 1];
                (async () => {
                  sessionStorage.setItem("porchlight-unlocked", JSON.stringify(\(jwk(key))));
                  localStorage.setItem("porchlight-key", JSON.stringify({ publicKey: "\(key.publicKey.base64)" }));
                  const bytes = Uint8Array.from(atob("\(Data(sealed).base64EncodedString())"), (c) => c.charCodeAt(0));
                  const opened = await porchlightMedia.openItem(bytes, \(expect));
                  let binary = ""; opened.plaintext.forEach((b) => binary += String.fromCharCode(b));
                  return (opened.complete ? "complete:" : "partial:") + btoa(binary);
                })().then(done, (error) => done("error:" + error.message));
                """
            return try await browser.call(
                "POST", "/session/\(browser.session)/execute/async", ["script": script, "args": []])["value"]
                as? String ?? "no answer"
        }
        #expect(try await openItem(#"{ kind: "clip", media: "evt-9-clip" }"#) == "complete:" + expected)
        for wrong in [
            #"{ kind: "clip", media: "evt-10-clip" }"#, #"{ kind: "snapshot", media: "evt-9-clip" }"#,
            #"{ kind: "live", match: /^live-[^-]+-[0-9]+$/ }"#,
        ] {
            let answer = try await openItem(wrong)
            #expect(answer.hasPrefix("error:this is clip evt-9-clip, not the "), "\(wrong): \(answer)")
        }
    }
}

/// The owner's keys in a real browser: made with WebCrypto on the keys page, the private half kept
/// in the browser under the passphrase, the public halves registered and sent to a running
/// doorbell, which keeps the current list; a revoked key leaves it.
@Suite("Owner keys in a real browser", .serialized, .timeLimit(.minutes(10)))
struct OwnerKeysBrowserTests {
    @Test("create a key and the recovery key, the doorbell receives both, revoke one and it leaves")
    func keysReachTheDoorbell() async throws {
        let setup = try await PairedSetup()
        defer { setup.sync.signal(SIGTERM) }
        try await setup.startWithOwner()
        let doorbell = setup.directory.path + "/doorbell"
        let configPath = try setup.directory.write(
            "porchlight.toml",
            try setup.doorbellConfig(
                "[button]\nsource = \"simulated\"\n[camera]\nenabled = false\n[audio]\nenabled = false"))
        try await setup.pair(configPath: configPath)
        let daemon = try ChildProcess("porchlightd", arguments: ["--config", configPath])
        try daemon.start()
        try #require(await daemon.notify.waitFor("READY=1") != nil, "stderr:\n\(daemon.stderr)")
        let keysFile = doorbell + "/owner-keys.json"
        func doorbellKeys() -> [String] {
            guard let data = FileManager.default.contents(atPath: keysFile),
                let file = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let list = file["keys"] as? [[String: Any]]
            else { return [] }
            return list.compactMap { $0["label"] as? String }.sorted()
        }

        let base = "https://localhost:\(setup.port)"
        let browser = try await WebDriver()
        do {
            try await browser.logInAndMakeKey(base: base, passphrase: "correct horse battery")
            let recovery = "return document.getElementById('recovery-text').textContent"
            #expect(
                await eventually(timeout: .seconds(30)) {
                    ((try? await browser.script(recovery)) as? String ?? "").hasPrefix("porchlight-recovery-key:")
                }, "no recovery key shown")
            try await browser.screenshot(to: artifactsDirectory + "/keys.png")
            // The private key in storage opens with the passphrase and not without it.
            let unwrap = """
                const done = arguments[arguments.length - 1];
                (async () => {
                  const held = JSON.parse(localStorage.getItem("porchlight-key"));
                  const bytes = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
                  const tryWith = async (passphrase) => {
                    const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveKey"]);
                    const key = await crypto.subtle.deriveKey({ name: "PBKDF2", salt: bytes(held.salt), iterations: 600000, hash: "SHA-256" }, base, { name: "AES-GCM", length: 256 }, false, ["decrypt"]);
                    try { return JSON.parse(new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes(held.iv) }, key, bytes(held.data)))).kty; }
                    catch (_) { return "refused"; }
                  };
                  return (await tryWith("correct horse battery")) + "," + (await tryWith("wrong horse battery"));
                })().then(done, (error) => done("error:" + error.message));
                """
            let unwrapped =
                try await browser.call(
                    "POST", "/session/\(browser.session)/execute/async", ["script": unwrap, "args": []])[
                    "value"] as? String
            #expect(unwrapped == "EC,refused")
            #expect(
                await eventually(timeout: .seconds(30)) { doorbellKeys() == ["Test browser", "recovery"] },
                "the doorbell did not receive the keys: \(doorbellKeys())")
            // Received, but not trusted until the owner pins the recovery key on the doorbell.
            let held = try ChildProcess("porchlightctl", arguments: ["status", "--config", configPath])
            #expect(try await held.runToExit() == 0)
            #expect(held.stdout.contains("media held on the doorbell"), "status: \(held.stdout)")
            try await browser.pinRecovery(configPath: configPath)
            // The running daemon makes the pin, set beside it on the console, an entry of its own.
            #expect(
                await eventually(timeout: .seconds(30)) {
                    DoorbellAccessLog.read(doorbell + "/access-log.jsonl", log: "").contains { $0.action == "key-pin" }
                }, "no key-pin entry in the doorbell's access log")
            // A second browser's key needs the recovery key, which signs it; a wrong one makes nothing.
            let recoveryText = try await browser.script(recovery) as? String ?? ""
            let second = try await WebDriver()
            do {
                try await second.open(base + "/login")
                try await second.type("#name", BrowserTests.owner)
                try await second.type("#password", BrowserTests.password)
                try await second.click("button[type=submit]")
                #expect(await eventually(timeout: .seconds(30)) { (try? await second.currentURL()) == base + "/" })
                for (text, label) in [
                    ("porchlight-recovery-key:" + String(repeating: "A", count: 43), "Wrong"),
                    (recoveryText, "Second browser"),
                ] {
                    try await second.open(base + "/keys")
                    try await second.type("#key-label", label)
                    try await second.type("#key-passphrase", "another good passphrase")
                    try await second.type("#key-repeat", "another good passphrase")
                    try await second.type("#key-recovery", text)
                    try await second.click("#key-form button[type=submit]")
                    let expected = label == "Wrong" ? "The key was not made" : "This browser now holds key"
                    #expect(
                        await eventually(timeout: .seconds(30)) {
                            ((try? await second.script("return document.getElementById('key-state').textContent"))
                                as? String ?? "").hasPrefix(expected)
                        }, "\(label)")
                }
            } catch {
                await second.quit()
                throw error
            }
            await second.quit()
            #expect(
                await eventually(timeout: .seconds(30)) {
                    doorbellKeys() == ["Second browser", "Test browser", "recovery"]
                }, "the doorbell did not receive the signed second key: \(doorbellKeys())")
            // The owner can compare what the doorbell seals for with the Keys page.
            let status = try ChildProcess("porchlightctl", arguments: ["status", "--config", configPath])
            #expect(try await status.runToExit() == 0)
            let keyID =
                try await browser.script("return JSON.parse(localStorage.getItem('porchlight-key')).id") as? String
            #expect(status.stdout.contains("media sealed for: "), "status: \(status.stdout)")
            #expect(status.stdout.contains("Test browser \(keyID ?? "-")"), "status: \(status.stdout)")

            // Revoking the browser key: it leaves the doorbell's list.
            try await browser.open(base + "/keys")
            try await browser.click("tr[data-key='\(keyID ?? "")'] form button[type=submit]")
            #expect(
                await eventually(timeout: .seconds(30)) { doorbellKeys() == ["Second browser", "recovery"] },
                "the revoked key is still at the doorbell: \(doorbellKeys())")
            try await browser.open(base + "/access")
            let access = try await browser.script("return document.querySelector('main').textContent") as? String ?? ""
            #expect(access.contains("key-add") && access.contains("key-revoke"))
        } catch {
            try? await browser.screenshot(to: artifactsDirectory + "/keys-failure.png")
            await browser.quit()
            throw error
        }
        await browser.quit()
        #expect(daemon.stderr.contains("Owner keys changed."))
        #expect(await daemon.terminate() == 0)
    }
}

/// End-to-end encryption from the camera to the page: once the owner has a key, the doorbell
/// seals a ring's snapshot and clip, the sync module stores only the sealed files, and the page
/// opens them after the owner unlocks the key with the passphrase.
@Suite("Sealed media from the doorbell to the page", .serialized, .timeLimit(.minutes(10)))
struct EndToEndSealingTests {
    /// Draws `element` (an image or a canvas, 640×480) and checks that the mask's inside (the
    /// top-left 208×160, less a JPEG block at its edges) is black while the rest of the picture
    /// is not.
    static func expectMasked(_ browser: WebDriver, _ element: String, _ what: String) async throws {
        let measure = """
            const source = \(element);
            const canvas = document.createElement("canvas"); canvas.width = 640; canvas.height = 480;
            const context = canvas.getContext("2d"); context.drawImage(source, 0, 0, 640, 480);
            const brightest = (x, y, w, h) => { const d = context.getImageData(x, y, w, h).data; let m = 0;
              for (let i = 0; i < d.length; i += 4) m = Math.max(m, d[i], d[i + 1], d[i + 2]); return m; };
            return [brightest(0, 0, 200, 152), brightest(224, 176, 400, 288)];
            """
        let levels = try await browser.script(measure) as? [Int] ?? []
        #expect(levels.count == 2 && levels[0] <= 8, "\(what): the masked area is not black (\(levels))")
        #expect(levels.count == 2 && levels[1] > 40, "\(what): the picture outside the mask is blank (\(levels))")
    }

    @Test(
        "a ring after the owner made a key: sealed at the sync module; once unlocked shown, played and watched live, the privacy mask black in each"
    )
    func sealedRing() async throws {
        let setup = try await PairedSetup()
        defer { setup.sync.signal(SIGTERM) }
        try await setup.startWithOwner()
        let (daemon, configPath) = try await setup.startCameraDoorbell(
            extra: "[[privacy.masks]]\nname = \"Neighbour\"\npoints = [[0, 0], [208, 0], [208, 160], [0, 160]]\n")
        let base = "https://localhost:\(setup.port)"
        let passphrase = "correct horse battery"

        let browser = try await WebDriver()
        do {
            try await browser.logInAndMakeKey(base: base, passphrase: passphrase)
            let keysFile = setup.directory.path + "/doorbell/owner-keys.json"
            #expect(
                await eventually(timeout: .seconds(30)) {
                    (FileManager.default.contents(atPath: keysFile).map { String(decoding: $0, as: UTF8.self) } ?? "")
                        .contains("Test browser")
                }, "the doorbell did not receive the key")

            // Before the recovery key is pinned the ring's event goes, its pictures stay held.
            let ring = try ChildProcess("porchlightctl", arguments: ["ring", "--config", configPath])
            #expect(try await ring.runToExit() == 0)
            let heldFolder = setup.directory.path + "/doorbell/media/snapshots"
            #expect(
                await eventually(timeout: .seconds(30)) {
                    ((try? FileManager.default.contentsOfDirectory(atPath: heldFolder)) ?? []).contains {
                        $0.hasSuffix(".jpg.held")
                    }
                }, "no snapshot held on the doorbell")
            let heldStore = try setup.store()
            #expect(
                await eventually(timeout: .seconds(30)) {
                    ((try? heldStore.events(after: 0, limit: 1000)) ?? []).contains { $0.event.kind == .ring }
                }, "the ring did not reach the sync module")
            let heldRing = try #require(try heldStore.events(after: 0, limit: 1000).last { $0.event.kind == .ring })
            #expect(try heldStore.media(forEvent: heldRing.event.eventID).isEmpty)
            try await browser.pinRecovery(configPath: configPath)
            // The ring's snapshot and clip arrive sealed: the sync module never sees a JPEG.
            let store = try setup.store()
            var files: [String] = []
            #expect(
                await eventually(timeout: .seconds(60)) {
                    let rings = ((try? store.events(after: 0, limit: 1000)) ?? []).filter { $0.event.kind == .ring }
                    guard let last = rings.last,
                        let media = try? store.media(forEvent: last.event.eventID),
                        Set(media.map(\.kind)) == [.thumbnail, .snapshot, .clip],
                        media.allSatisfy({ $0.completedAt != nil })
                    else { return false }
                    let folder = setup.directory.path + "/sync/media/" + last.deviceID + "/"
                    files = media.map { folder + $0.mediaID + $0.kind.fileExtension }
                    return true
                }, "the ring's thumbnail, snapshot and clip did not arrive")
            for file in files {
                let bytes = try [UInt8](#require(FileManager.default.contents(atPath: file)))
                #expect(Array(bytes.prefix(4)) == Array("PLS1".utf8), "\(file) is not sealed")
            }

            // Locked, the page cannot show the snapshot; unlocked, it does, and the clip plays.
            try await browser.open(base + "/")
            let ringImage = "document.querySelector('#timeline li[data-kind=ring] img')"
            #expect(
                await eventually(timeout: .seconds(30)) {
                    ((try? await browser.script("return \(ringImage)?.dataset.opened || ''")) as? String) == "locked"
                })
            #expect(try await browser.script("return !document.getElementById('unlock').hidden") as? Bool == true)
            try await browser.type("#unlock-passphrase", passphrase)
            try await browser.click("#unlock button[type=submit]")
            #expect(
                await eventually(timeout: .seconds(30)) {
                    ((try? await browser.script(
                        "return \(ringImage)?.dataset.opened === 'yes' && \(ringImage).naturalWidth"))
                        as? Int ?? 0) == 640
                }, "the sealed snapshot was not shown after unlocking")
            // The privacy mask (the top-left 208×160) is black in every output, after decryption;
            // the rest of the picture is not.
            try await Self.expectMasked(browser, "\(ringImage)", "the snapshot")

            // Unlocked for this tab: the passphrase field is gone.
            #expect(
                try await browser.script(
                    "return getComputedStyle(document.getElementById('unlock')).display === 'none'") as? Bool == true)
            try await browser.screenshot(to: artifactsDirectory + "/sealed-timeline.png")
            let clip =
                try await browser.script(
                    "return document.querySelector('#timeline li[data-kind=ring] a.clip')?.getAttribute('href') || ''")
                as? String ?? ""
            try await browser.open(base + clip)
            #expect(
                await eventually(timeout: .seconds(30)) {
                    ((try? await browser.script("return window.porchlightPlayer?.frames || 0")) as? Int ?? 0) > 0
                }, "the sealed clip did not play")
            try await browser.click("#play")
            #expect(
                await eventually(timeout: .seconds(30)) {
                    ((try? await browser.script("return window.porchlightPlayer.currentTime")) as? Double ?? 0) > 0.3
                })
            try await Self.expectMasked(browser, "document.getElementById('clip-canvas')", "the clip")

            // Sharing the clip: a link with its own key, for someone with no account and no key.
            try await Self.shareAndRevoke(browser, base: base, setup: setup)

            // Live view: each frame sealed at the doorbell, opened in the page.
            let device = try #require(try store.devices().first?.id)
            try await browser.open(base + "/live/" + device)
            try await browser.click("#live-start")
            let drawn = "return Number(document.getElementById('live-canvas').dataset.frames)"
            #expect(
                await eventually(timeout: .seconds(30)) { ((try? await browser.script(drawn)) as? Int ?? 0) >= 3 },
                "the sealed live view did not draw")
            try await Self.expectMasked(browser, "document.getElementById('live-canvas')", "the live view")

            // After rings, motion, clips, live view and a share: nothing in the clear at the sync module.
            #expect(
                await eventually(timeout: .seconds(60)) {
                    let kinds = ((try? store.events(after: 0, limit: 1000)) ?? []).map(\.event.kind)
                    return kinds.contains(.motionStarted)
                }, "no motion event arrived")
            try Self.expectCiphertextOnly(
                setup.directory.path + "/sync", footage: "\(repositoryRoot)/demo/porch_640x480.mjpeg")
        } catch {
            try? await browser.screenshot(to: artifactsDirectory + "/sealed-failure.png")
            await browser.quit()
            throw error
        }
        await browser.quit()
        #expect(await daemon.terminate() == 0)
    }
}

extension EndToEndSealingTests {
    /// Searches every file under `directory` (database, its journal, media) for what plaintext
    /// media would leave: a JPEG's opening bytes and quantisation tables as the footage has them,
    /// Matroska's doctype, an AVI header. Each pattern is long enough not to turn up in ciphertext
    /// by chance.
    static func expectCiphertextOnly(_ directory: String, footage: String) throws {
        let frame = try [UInt8](#require(FileManager.default.contents(atPath: footage))).prefix(4096)
        let dqt = try #require((0..<frame.count - 1).first { frame[$0] == 0xFF && frame[$0 + 1] == 0xDB })
        let patterns: [(String, [UInt8])] = [
            ("a JPEG's first bytes", Array(frame.prefix(12))),
            ("the footage's JPEG quantisation table", Array(frame[dqt..<dqt + 40])),
            ("a Matroska header", Array("matroska".utf8)),
            ("an AVI header", Array("AVI LIST".utf8)),
        ]
        let files = try #require(FileManager.default.subpathsOfDirectory(atPath: directory) as [String]?)
        var searched = 0
        for file in files {
            guard let data = FileManager.default.contents(atPath: directory + "/" + file) else { continue }
            searched += 1
            let bytes = [UInt8](data)
            for (what, pattern) in patterns where bytes.count >= pattern.count {
                let found = (0...(bytes.count - pattern.count)).contains { start in
                    bytes[start] == pattern[0] && Array(bytes[start..<start + pattern.count]) == pattern
                }
                #expect(!found, "\(file) holds \(what) in the clear")
            }
        }
        #expect(searched > 3)
    }

    /// Makes a share link on the open clip page, opens it in a fresh browser (the clip plays, its
    /// mask black), checks that a wrong fragment opens nothing and that the sync module never held
    /// the fragment, then revokes it and sees it refused.
    static func shareAndRevoke(_ browser: WebDriver, base: String, setup: PairedSetup) async throws {
        try await browser.click("#share")
        var link = ""
        #expect(
            await eventually(timeout: .seconds(30)) {
                link =
                    ((try? await browser.script("return document.getElementById('share-url').value")) as? String) ?? ""
                return !link.isEmpty
            }, "no share link was made")
        let parts = link.split(separator: "#", maxSplits: 1).map(String.init)
        try #require(parts.count == 2 && parts[0].hasPrefix(base + "/share/"), "\(link)")
        let (page, fragment) = (parts[0], parts[1])

        let stranger = try await WebDriver()
        do {
            try await stranger.open(link)
            #expect(
                await eventually(timeout: .seconds(30)) {
                    ((try? await stranger.script("return window.porchlightPlayer?.frames || 0")) as? Int ?? 0) > 0
                }, "the shared clip did not open")
            try await stranger.click("#play")
            #expect(
                await eventually(timeout: .seconds(30)) {
                    ((try? await stranger.script("return window.porchlightPlayer.currentTime")) as? Double ?? 0) > 0.3
                })
            try await Self.expectMasked(stranger, "document.getElementById('clip-canvas')", "the shared clip")
            // Another key in the fragment opens nothing. (A change of fragment alone does not load
            // the page again, hence the blank page between.)
            try await stranger.open("about:blank")
            try await stranger.open(page + "#" + String(repeating: "A", count: 43))
            #expect(
                await eventually(timeout: .seconds(30)) {
                    ((try? await stranger.script("return document.getElementById('clip-time').textContent")) as? String
                        ?? "").contains("does not open this clip")
                })
            // The key never reached the sync module: not in its database, not in its log.
            let database = try String(
                decoding: #require(FileManager.default.contents(atPath: setup.directory.path + "/sync/sync.sqlite")),
                as: UTF8.self)
            #expect(!database.contains(fragment) && !setup.sync.stderr.contains(fragment))

            // The clip is streamed from disk, and one byte range of it is served as 206.
            let ranged =
                try await stranger.script(
                    """
                    return fetch('\(page)/clip', {method: 'POST', headers: {Range: 'bytes=4-13'}}).then(async (r) =>
                      r.status + ' ' + r.headers.get('content-range') + ' ' + (await r.arrayBuffer()).byteLength)
                    """) as? String ?? ""
            #expect(ranged.hasPrefix("206 bytes 4-13/") && ranged.hasSuffix(" 10"), "\(ranged)")
            // Revoked on the Shares page: the page and the clip are refused.
            try await browser.open(base + "/shares")
            try await browser.click("form[action$='/revoke'] button")
            try await stranger.open("about:blank")
            try await stranger.open(link)
            let text = try await stranger.script("return document.querySelector('main').textContent") as? String ?? ""
            #expect(text.contains("The owner revoked this link."))
            let status =
                try await stranger.script("return fetch('\(page)/clip', {method: 'POST'}).then((r) => r.status)")
                as? Int
            #expect(status == 410)
        } catch {
            await stranger.quit()
            throw error
        }
        await stranger.quit()
        try await browser.open(base + "/access")
        let log = try await browser.script("return document.querySelector('main').textContent") as? String ?? ""
        for action in ["share-create", "share-open", "share-revoke"] { #expect(log.contains(action), "\(action)") }
    }
}

extension WebDriver {
    /// Logs in as the test owner; the first sign-in leads to the keys.
    func logIn(base: String) async throws {
        try await open(base + "/login")
        try await type("#name", BrowserTests.owner)
        try await type("#password", BrowserTests.password)
        try await click("button[type=submit]")
        #expect(await eventually(timeout: .seconds(30)) { (try? await self.currentURL()) == base + "/keys?first=1" })
    }

    /// Logs in as the test owner and makes a key labelled "Test browser" on the keys page.
    func logInAndMakeKey(base: String, passphrase: String) async throws {
        try await logIn(base: base)
        #expect(try await script("return !!document.getElementById('first-key')") as? Bool == true)
        try await type("#key-label", "Test browser")
        try await type("#key-passphrase", passphrase)
        try await type("#key-repeat", passphrase)
        try await click("#key-form button[type=submit]")
    }

    /// Pins the recovery key the page just made on the doorbell, as its owner does: the
    /// fingerprint read off the page, given to `porchlightctl keys trust`.
    func pinRecovery(configPath: String) async throws {
        var command = ""
        #expect(
            await eventually(timeout: .seconds(30)) {
                command =
                    (try? await self.script("return document.getElementById('recovery-pin').textContent"))
                    as? String ?? ""
                return command.contains("porchlightctl keys trust ")
            }, "the page shows no recovery fingerprint")
        let fingerprint = String(command.split(separator: " ").last ?? "")
        let trust = try ChildProcess(
            "porchlightctl", arguments: ["keys", "trust", fingerprint, "--config", configPath])
        #expect(try await trust.runToExit() == 0, "keys trust: \(trust.stdout) \(trust.stderr)")
        #expect(trust.stdout.contains("Pinned recovery key \(fingerprint)"), "\(trust.stdout)")
    }
}

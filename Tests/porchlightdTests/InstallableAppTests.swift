import DoorbellTestKit
import Foundation
import Testing

/// The installable app in a real headless Chromium against the real `porchlight-sync`: Chromium
/// finds it installable, its service worker shows a pushed ring and leads to the right page, and
/// it opens offline (docs/notifications.md).
@Suite("The installable app and its notifications in a real browser", .serialized, .timeLimit(.minutes(10)))
struct InstallableAppTests {
    @Test("installable by Chromium's own check; a pushed ring and motion shown by the service worker; the offline page")
    func installAndNotify() async throws {
        let setup = try await PairedSetup()
        defer { setup.sync.signal(SIGTERM) }
        try await setup.startWithOwner()
        let base = "https://localhost:\(setup.port)"
        let browser = try await WebDriver()
        do {
            try await browser.logIn(base: base)
            try await installable(browser, base: base)
            try await notifications(browser, base: base)
            try await notificationsPage(browser, base: base)
            try await offline(browser, base: base, setup: setup)
        } catch {
            try? await browser.screenshot(to: artifactsDirectory + "/app-failure.png")
            await browser.quit()
            throw error
        }
        await browser.quit()
    }

    @Test(
        "a ring's thumbnail, sealed on the doorbell for this browser's notification key, shown in the notification; that key opens no snapshot; text first when the picture is withheld"
    )
    func thumbnailInNotification() async throws {
        let setup = try await PairedSetup()
        defer { setup.sync.signal(SIGTERM) }
        try await setup.startWithOwner()
        let (daemon, configPath) = try await setup.startCameraDoorbell()
        let base = "https://localhost:\(setup.port)"
        let browser = try await WebDriver()
        do {
            try await browser.logInAndMakeKey(base: base, passphrase: "correct horse battery")
            try await browser.pinRecovery(configPath: configPath)
            let recovery = try #require(
                try await browser.script("return document.getElementById('recovery-text').textContent") as? String)
            try await notificationKey(browser, base: base, recovery: recovery)
            let keysFile = setup.directory.path + "/doorbell/owner-keys.json"
            #expect(
                await eventually(timeout: .seconds(30)) {
                    (FileManager.default.contents(atPath: keysFile).map { String(decoding: $0, as: UTF8.self) } ?? "")
                        .contains("\"notification\"")
                }, "the doorbell did not receive the notification key")
            try await ringAndShow(browser, base: base, setup: setup, configPath: configPath)
        } catch {
            try? await browser.screenshot(to: artifactsDirectory + "/thumbnail-failure.png")
            await browser.quit()
            throw error
        }
        await browser.quit()
        #expect(await daemon.terminate() == 0)
    }

    /// The Notifications page with the recovery key: this browser's notification key is made,
    /// kept in IndexedDB and registered, whether or not the browser's push service answers
    /// (headless Chromium has none).
    func notificationKey(_ browser: WebDriver, base: String, recovery: String) async throws {
        try await browser.open(base + "/notifications")
        try await browser.type("#push-label", "Test phone")
        try await browser.type("#push-recovery", recovery)
        try await browser.devTools("Browser.grantPermissions", ["permissions": ["notifications"], "origin": base])
        try await browser.click("#push-form button[type=submit]")
        #expect(
            await eventually(timeout: .seconds(30)) {
                (try? await browser.asyncScript(
                    "const done = arguments[0]; porchlightSealed.notificationKey().then((k) => done(!!k && k.key.extractable === false), () => done(false));"
                )) as? Bool == true
            }, "no non-extractable notification key in IndexedDB")
    }

    func ringAndShow(_ browser: WebDriver, base: String, setup: PairedSetup, configPath: String) async throws {
        let ring = try ChildProcess("porchlightctl", arguments: ["ring", "--config", configPath])
        #expect(try await ring.runToExit() == 0)
        let store = try setup.store()
        var stored: (event: String, device: String)?
        #expect(
            await eventually(timeout: .seconds(60)) {
                guard
                    let last = ((try? store.events(after: 0, limit: 1000)) ?? []).last(where: { $0.event.kind == .ring }
                    ),
                    let media = try? store.media(forEvent: last.event.eventID),
                    media.contains(where: { $0.kind == .thumbnail && $0.completedAt != nil }),
                    media.contains(where: { $0.kind == .snapshot && $0.completedAt != nil })
                else { return false }
                stored = (last.event.eventID, last.deviceID)
                return true
            }, "the ring's thumbnail and snapshot did not arrive")
        let (event, device) = try #require(stored)
        let thumbnailFile = setup.directory.path + "/sync/media/\(device)/\(event)-thumbnail.jpg"
        let sealed = try #require(FileManager.default.contents(atPath: thumbnailFile))
        #expect(Array(sealed.prefix(4)) == Array("PLS1".utf8), "the thumbnail is not sealed at the sync module")
        print("thumbnail sealed at the sync module: \(sealed.count) bytes")

        // The notification, with the picture the service worker opened.
        let payload = { (id: String) in
            #"{"v":1,"id":"\#(id)","kind":"ring","doorbell":"\#(device)","doorbellName":"Front door","at":\#(Int64(Date().timeIntervalSince1970 * 1000))}"#
        }
        var times: [Duration] = []
        for _ in 0..<5 {
            _ = try await browser.asyncScript(
                "const done = arguments[0]; navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((l) => { l.forEach((n) => n.close()); done(true); });"
            )
            let start = ContinuousClock.now
            try await deliver(browser, base: base, payload(event))
            let shown = try #require(
                await shown(browser, tag: "ring-\(event)", withImage: true), "no ring notification with its picture")
            times.append(ContinuousClock.now - start)
            let image = try #require(shown["image"] as? String)
            #expect(image.hasPrefix("data:image/jpeg;base64,"))
            let jpeg = try #require(Data(base64Encoded: String(image.dropFirst("data:image/jpeg;base64,".count))))
            let size = Self.jpegSize(jpeg)
            #expect(size?.width == 320 && size?.height == 240, "the thumbnail is \(String(describing: size))")
            #expect(jpeg.count < 20_000, "the thumbnail is \(jpeg.count) bytes")
        }
        times.sort()
        print("push to notification with its thumbnail in Chromium: p50 \(times[times.count / 2]) over \(times.count)")

        // The notification key opens thumbnails only: the ring's full snapshot is not sealed for it.
        let refused =
            try await browser.asyncScript(
                """
                const done = arguments[0];
                (async () => {
                  const held = await porchlightSealed.notificationKey();
                  const bytes = new Uint8Array(await (await fetch("/media/\(device)/\(event)-snapshot")).arrayBuffer());
                  try { await porchlightSealed.open(bytes, held.key, held.point); return "opened"; }
                  catch (error) { return "refused: " + error.message; }
                })().then(done);
                """) as? String
        #expect(refused?.hasPrefix("refused") == true, "the notification key and the snapshot: \(refused ?? "")")

        // A ring whose picture never comes shows its text once the wait is over.
        try await deliver(browser, base: base, payload("ring-without-picture"))
        let text = try #require(await shown(browser, tag: "ring-ring-without-picture"), "no text-only notification")
        #expect(text["image"] as? String == nil || (text["image"] as? String)?.isEmpty == true)
        #expect(text["title"] as? String == "Someone is at the door")
    }

    /// Width and height from a baseline or progressive JPEG's frame header (SOF0 or SOF2).
    static func jpegSize(_ jpeg: Data) -> (width: Int, height: Int)? {
        let bytes = [UInt8](jpeg)
        var at = 2
        while at + 9 < bytes.count, bytes[at] == 0xFF {
            let marker = bytes[at + 1]
            let length = Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            if marker == 0xC0 || marker == 0xC2 {
                return (Int(bytes[at + 7]) << 8 | Int(bytes[at + 8]), Int(bytes[at + 5]) << 8 | Int(bytes[at + 6]))
            }
            at += 2 + length
        }
        return nil
    }

    /// `Page.getInstallabilityErrors` returns none once the manifest and the service worker are in.
    func installable(_ browser: WebDriver, base: String) async throws {
        try await browser.open(base + "/")
        var errors: [Any] = ["not asked yet"]
        let none = await eventually(timeout: .seconds(30)) {
            errors =
                (try? await browser.devTools("Page.getInstallabilityErrors"))?["installabilityErrors"] as? [Any]
                ?? ["no answer"]
            return errors.isEmpty
        }
        #expect(none, "Chromium's installability errors: \(errors)")
        let manifest = try await browser.devTools("Page.getAppManifest")
        #expect((manifest["errors"] as? [Any])?.isEmpty == true, "manifest: \(manifest)")
        #expect((manifest["url"] as? String) == base + "/manifest.webmanifest")
    }

    /// The service worker's registration id, found as DevTools takes it: the one id it delivers to.
    func deliver(_ browser: WebDriver, base: String, _ payload: String) async throws {
        try await browser.devTools("ServiceWorker.enable")
        var last = ""
        for id in 0..<8 {
            do {
                try await browser.devTools(
                    "ServiceWorker.deliverPushMessage", ["origin": base, "registrationId": String(id), "data": payload])
                return
            } catch {
                last = "\(error)"
            }
        }
        throw WebDriver.Failure(description: "no service worker took the push: \(last)")
    }

    func shown(_ browser: WebDriver, tag: String, withImage: Bool = false) async -> [String: Any]? {
        var found: [String: Any]?
        // The bound only limits a failure; beside the other browser suites on two cores a worker
        // once took over 20 s to start for a push.
        _ = await eventually(timeout: .seconds(60), poll: .milliseconds(10)) {
            let list =
                (try? await browser.asyncScript(
                    """
                    const done = arguments[0];
                    navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((list) => done(list.map((n) =>
                      ({ title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url, icon: n.icon, image: n.image }))));
                    """)) as? [[String: Any]] ?? []
            found = list.first {
                $0["tag"] as? String == tag && (!withImage || (($0["image"] as? String)?.isEmpty == false))
            }
            return found != nil
        }
        return found
    }

    func notifications(_ browser: WebDriver, base: String) async throws {
        try await browser.devTools(
            "Browser.grantPermissions", ["permissions": ["notifications"], "origin": base])
        let at = Int64(Date().timeIntervalSince1970 * 1000)
        try await deliver(
            browser, base: base,
            #"{"v":1,"id":"ring-1","kind":"ring","doorbell":"dev-1","doorbellName":"Front door","at":\#(at)}"#)
        let ring = try #require(await shown(browser, tag: "ring-ring-1"), "no ring notification")
        #expect(ring["title"] as? String == "Someone is at the door")
        #expect((ring["body"] as? String)?.hasPrefix("Front door · ") == true)
        #expect(ring["url"] as? String == "/live/dev-1")
        try await deliver(
            browser, base: base,
            #"{"v":1,"id":"motion-1","kind":"motion","doorbell":"dev-1","doorbellName":"Front door","at":\#(at)}"#)
        let motion = try #require(await shown(browser, tag: "motion-dev-1"), "no motion notification")
        #expect(motion["title"] as? String == "Motion at Front door")
        #expect(motion["url"] as? String == "/#event-motion-1")
        // What the service worker cannot read still shows, as a push must, and says nothing it does not know.
        try await deliver(browser, base: base, #"{"v":1,"kind":"ring","id":"<script>"}"#)
        let unreadable = try #require(await shown(browser, tag: "unreadable"))
        #expect(unreadable["body"] as? String == "Something happened at the door.")
    }

    /// The page takes a subscription (as `pushManager.subscribe` gives it), lists it, and shows what
    /// a test notification to an unreachable push service met.
    func notificationsPage(_ browser: WebDriver, base: String) async throws {
        try await browser.open(base + "/notifications")
        let key = try await browser.script("return document.getElementById('push-here').dataset.key") as? String ?? ""
        #expect(key.count == 87, "the VAPID key on the page: \(key)")
        let status = try await browser.asyncScript(
            """
            const done = arguments[0];
            const token = document.querySelector('meta[name="csrf-token"]').content;
            fetch("/push/subscriptions", { method: "POST", headers: { "X-CSRF-Token": token, "Content-Type": "application/json" },
              body: JSON.stringify({ label: "Test phone", endpoint: "https://127.0.0.1:1/push/x",
                keys: { p256dh: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", auth: "BTBZMqHH6r4Tts7J_aSIgg" },
                rings: true, motion: false, duringQuiet: false }) }).then((r) => done(r.status));
            """)
        #expect(status as? Int == 200)
        try await browser.open(base + "/notifications")
        #expect(
            try await browser.script("return document.querySelector('table.push td').textContent") as? String
                == "Test phone")
        try await browser.click("button[data-test]")
        var result = ""
        #expect(
            await eventually(timeout: .seconds(30)) {
                result =
                    (try? await browser.script("return document.querySelector('[id^=push-test-]').textContent"))
                    as? String ?? ""
                return !result.isEmpty && result != "sending…"
            })
        #expect(result.contains("no answer from https://127.0.0.1:1"), "test notification: \(result)")
        try await browser.open(base + "/notifications")
        let row =
            try await browser.script("return document.querySelector('table.push tbody tr').textContent") as? String
        #expect(row?.contains("no answer") == true, "the row shows the last error: \(row ?? "")")
    }

    /// With the sync module gone, a page of the app opens the offline page from the service
    /// worker's cache. (DevTools' offline emulation does not reach a service worker's own fetches,
    /// so the sync module is stopped instead, as when the phone is away from home.)
    func offline(_ browser: WebDriver, base: String, setup: PairedSetup) async throws {
        setup.sync.signal(SIGTERM)
        #expect(await setup.sync.exitStatus(within: .seconds(30)) != nil)
        try await browser.open(base + "/")
        #expect(try await browser.script("return document.title") as? String == "Offline · Porchlight")
        let text = try await browser.script("return document.querySelector('main').textContent") as? String
        #expect(text?.contains("cannot reach your sync module") == true)
    }
}

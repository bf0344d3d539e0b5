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
            try await logIn(browser, base: base)
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

    func logIn(_ browser: WebDriver, base: String) async throws {
        try await browser.open(base + "/login")
        try await browser.type("#name", BrowserTests.owner)
        try await browser.type("#password", BrowserTests.password)
        try await browser.click("button[type=submit]")
        #expect(await eventually(timeout: .seconds(30)) { (try? await browser.currentURL())?.contains("/keys") == true })
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

    func shown(_ browser: WebDriver, tag: String) async -> [String: Any]? {
        var found: [String: Any]?
        _ = await eventually(timeout: .seconds(20)) {
            let list =
                (try? await browser.asyncScript(
                    """
                    const done = arguments[0];
                    navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((list) => done(list.map((n) =>
                      ({ title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url, icon: n.icon }))));
                    """)) as? [[String: Any]] ?? []
            found = list.first { $0["tag"] as? String == tag }
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
        let row = try await browser.script("return document.querySelector('table.push tbody tr').textContent") as? String
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

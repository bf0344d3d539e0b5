/// The page's style sheet and scripts, served from the sync module itself: no CDN, no font, no
/// build step. They are files in `Sources/WebUI/Assets` (plain ES2020, linted and unit-tested with
/// Node: `Tests/WebUI`), compiled into the binary so the hardened unit needs no asset path.
enum Assets {
    static let style = text(PackageResources.app_css)
    static let script = text(PackageResources.app_js)
    /// The talk page's audio worklets (`/static/talk-worklet.js`).
    static let talkWorklet = text(PackageResources.talk_worklet_js)
    /// Opens sealed media and seals talk in the browser (`/static/sealed.js`; its head says how).
    static let sealedScript = text(PackageResources.sealed_js)
    /// The clip reader (Matroska with MJPEG frames), `/static/clip.js`.
    static let clipScript = text(PackageResources.clip_js)
    /// The installable app: its manifest, its service worker (`/sw.js`: push, notifications and
    /// the offline page), and its icons (made by `packaging/make-icons`).
    static let manifest = text(PackageResources.manifest_webmanifest)
    static let serviceWorker = text(PackageResources.sw_js)
    static let notifyScript = text(PackageResources.notify_js)
    static let iconSVG = text(PackageResources.icon_svg)
    static let iconPNGs: [(String, [UInt8])] = [
        ("icon-192.png", PackageResources.icon_192_png), ("icon-512.png", PackageResources.icon_512_png),
        ("icon-maskable-512.png", PackageResources.icon_maskable_512_png),
    ]

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}

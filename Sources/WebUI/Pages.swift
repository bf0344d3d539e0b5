import Mustache
import SyncModule

/// The page templates (Mustache, HTML-escaped by default), compiled once at start.
struct Pages: Sendable {
    let library: MustacheLibrary

    init() throws {
        var templates: [String: MustacheTemplate] = [:]
        for (name, text) in Self.sources { templates[name] = try MustacheTemplate(string: text) }
        library = MustacheLibrary(templates: templates)
    }

    /// Renders a page inside the layout; `session` nil renders a fragment or the login page.
    func render(_ name: String, _ context: [String: Any], session: OwnerSession?) -> String {
        var context = Self.dropEmptyStrings(context)
        // Forms in a page's body carry the session's CSRF token too.
        if let session, context["csrf"] == nil { context["csrf"] = session.csrf }
        let body = library.render(context, withTemplate: name) ?? ""
        if name == "row" { return body }
        var page = context
        page["body"] = body
        page["loggedIn"] = session != nil
        page["owner"] = session?.owner ?? ""
        page["csrf"] = session?.csrf ?? context["csrf"] ?? ""
        return library.render(page, withTemplate: "layout") ?? ""
    }

    /// Mustache treats an empty string as true in `{{#key}}` sections; an absent key renders the
    /// same as an empty one elsewhere, so empty strings are dropped.
    static func dropEmptyStrings(_ context: [String: Any]) -> [String: Any] {
        var result: [String: Any] = [:]
        for (key, value) in context {
            switch value {
            case let text as String where text.isEmpty: continue
            case let nested as [String: Any]: result[key] = dropEmptyStrings(nested)
            case let list as [[String: Any]]: result[key] = list.map(dropEmptyStrings)
            default: result[key] = value
            }
        }
        return result
    }

    static let sources: [String: String] = [
        "layout": """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="csrf-token" content="{{csrf}}">
        <title>{{title}} · Porchlight</title>
        <link rel="stylesheet" href="/static/app.css">
        <script src="/static/sealed.js" defer></script>
        <script src="/static/app.js" defer></script>
        </head>
        <body>
        <header>
        <a class="brand" href="/">Porchlight</a>
        {{#loggedIn}}
        <nav aria-label="Main">
        <a href="/">Timeline</a>
        <a href="/devices">Doorbells</a>
        <a href="/shares">Shares</a>
        <a href="/access">Access log</a>
        <a href="/keys">Keys</a>
        <form id="unlock" class="inline" hidden>
        <input id="unlock-passphrase" type="password" placeholder="Passphrase" aria-label="Passphrase to open sealed media" autocomplete="current-password">
        <button type="submit">Unlock media</button> <span id="unlock-state" role="status"></span>
        </form>
        <form method="post" action="/logout" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit">Log out {{owner}}</button>
        </form>
        </nav>
        {{/loggedIn}}
        </header>
        <main id="main">
        {{{body}}}
        </main>
        </body>
        </html>
        """,
        "login": """
        <h1>Log in</h1>
        {{#message}}<p class="error" role="alert">{{message}}</p>{{/message}}
        <form method="post" action="/login" class="login">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="name">Name</label>
        <input id="name" name="name" autocomplete="username" required autofocus>
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required>
        <button type="submit">Log in</button>
        </form>
        """,
        "timeline": """
        <h1>Timeline</h1>
        <form method="get" action="/" class="filters" aria-label="Filters">
        <label for="kind">Show</label>
        <select id="kind" name="kind">{{#kinds}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/kinds}}</select>
        <label for="day">Day</label>
        <input id="day" name="day" type="date" value="{{day}}">
        <label for="device">Doorbell</label>
        <select id="device" name="device"><option value="">All</option>{{#devices}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/devices}}</select>
        <button type="submit">Filter</button>
        </form>
        <p><button type="button" id="notify" hidden>Notify me of rings</button> <span id="live-status" role="status"></span></p>
        <ol id="timeline" class="timeline" aria-live="polite">
        {{#rows}}{{> row}}{{/rows}}
        </ol>
        {{#empty}}<p id="empty">Nothing yet. Rings and motion appear here as they happen.</p>{{/empty}}
        {{#next}}<p><a href="{{next}}" rel="next">Older events</a></p>{{/next}}
        """,
        "row": """
        <li class="event {{kind}}" id="event-{{eventID}}" data-event="{{eventID}}" data-kind="{{kind}}">
        <div class="thumb">{{#snapshot}}<img src="{{snapshot}}" alt="Snapshot of the {{label}} at {{time}}" loading="lazy" width="160" height="120">{{/snapshot}}{{#waiting}}<span class="pending">snapshot on its way</span>{{/waiting}}</div>
        <div class="what"><strong>{{label}}</strong> <span class="doorbell">{{device}}</span><br>
        <time datetime="{{iso}}">{{time}}</time>{{#details}} · <span class="details">{{details}}</span>{{/details}}
        {{#clip}}<br><a class="clip" href="{{clip}}">Play clip</a>{{/clip}}</div>
        </li>
        """,
        "clip": """
        <h1>Clip</h1>
        <p>{{when}} · {{size}} · <form method="post" action="{{download}}" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="download">Download (Matroska, plays in VLC or mpv)</button></form></p>
        {{> player}}
        <section class="share">
        <h2>Share</h2>
        <p>A link with its own key lets someone without an account watch this clip, and nothing else, until it expires or you revoke it on the <a href="/shares">Shares</a> page. The key is in the part of the link after #, which is never sent to this server. Each opening is recorded in the access log.</p>
        <label>For <select id="share-hours"><option value="1">1 hour</option><option value="24" selected>1 day</option><option value="168">7 days</option><option value="720">30 days</option></select></label>
        <button type="button" id="share">Make a share link</button>
        <p id="share-state" role="status"></p>
        <input id="share-url" readonly hidden aria-label="Share link">
        </section>
        """,
        "player": """
        <div class="player" id="player" data-source="{{source}}"{{#wrapped}} data-wrapped="{{wrapped}}"{{/wrapped}}>
        <canvas id="clip-canvas" width="640" height="480" aria-label="Clip"></canvas>
        <div class="controls">
        <button type="button" id="play">Play</button>
        <progress id="clip-progress" value="0" max="1" aria-label="Position"></progress>
        <span id="clip-time" role="status">loading…</span>
        </div>
        </div>
        """,
        "shared": """
        <h1>A shared clip</h1>
        <p>Shared by the owner of this doorbell until {{until}}. The key to it is in this link; the server that sent this page cannot open it. Opening it is recorded in the owner's access log.</p>
        {{> player}}
        """,
        "shares": """
        <h1>Shares</h1>
        <p>Links you made to single clips. A revoked or expired link opens nothing; deleting a clip (retention) ends its links too.</p>
        {{#empty}}<p>You have not shared anything.</p>{{/empty}}
        <table>
        <thead><tr><th scope="col">Link</th><th scope="col">Clip</th><th scope="col">Made</th><th scope="col">Until</th><th scope="col">Opened</th><th scope="col">State</th><th scope="col"></th></tr></thead>
        <tbody>
        {{#shares}}<tr><td><code>{{id}}</code></td><td><a href="/clip/{{device}}/{{media}}">{{media}}</a></td><td>{{created}}</td><td>{{until}}</td><td>{{opened}}</td><td>{{state}}</td><td>{{#live}}<form method="post" action="/shares/{{id}}/revoke"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Revoke</button></form>{{/live}}</td></tr>{{/shares}}
        </tbody>
        </table>
        """,
        "devices": """
        <h1>Doorbells</h1>
        {{#empty}}<p>No doorbell is paired yet. Run <code>porchlight-sync pair-code</code> and then <code>porchlightctl pair</code> on the doorbell.</p>{{/empty}}
        <ul class="devices">
        {{#devices}}
        <li class="device">
        <h2>{{name}}</h2>
        <p class="state">{{#revoked}}<strong class="bad">revoked</strong>{{/revoked}}{{^revoked}}{{#online}}<strong class="good">online</strong>{{/online}}{{^online}}<strong class="bad">offline</strong>{{/online}}{{/revoked}} · last seen {{lastSeen}}</p>
        <dl>
        <dt>Health</dt><dd>{{status}}</dd>
        <dt>Waiting to upload</dt><dd>{{backlog}}</dd>
        <dt>Camera</dt><dd>{{camera}}</dd>
        <dt>Firmware</dt><dd>{{version}}</dd>
        <dt>Id</dt><dd><code>{{id}}</code></dd>
        </dl>
        {{#online}}<p><a href="/live/{{id}}">Live view</a></p>{{/online}}
        </li>
        {{/devices}}
        </ul>
        """,
        "keys": """
        <h1>Keys</h1>
        <p>Your keys for end-to-end encryption. Each phone or browser has its own key; its private half stays in that browser, encrypted under your passphrase, and never reaches the sync module. Doorbells receive the public halves. Revoke the key of a lost phone: it leaves every doorbell.</p>
        <p>Doorbells seal every snapshot, clip and live-view frame for the keys in use here before it leaves the doorbell; this sync module stores and relays only sealed files. Until the first key exists, media is not sealed (see docs/privacy.md).</p>
        <table class="keys">
        <thead><tr><th>Label</th><th>Id</th><th>Added</th><th>State</th><th></th></tr></thead>
        <tbody>
        {{#keys}}<tr data-key="{{id}}"><td>{{label}}</td><td><code>{{id}}</code></td><td>{{created}}</td><td>{{#revoked}}<strong class="bad">revoked</strong>{{/revoked}}{{^revoked}}<strong class="good">in use</strong>{{/revoked}}</td><td>{{^revoked}}<form method="post" action="/keys/{{id}}/revoke" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit">Revoke</button></form>{{/revoked}}</td></tr>{{/keys}}
        </tbody>
        </table>
        {{#first}}<section id="first-key" class="notice"><h2>First, your keys</h2><p>Every snapshot, clip and live view is sealed on the doorbell for keys only you hold; this sync module cannot open them. Until you make your key and your recovery key here, doorbells keep their pictures and send none (rings and motion still arrive).</p></section>{{/first}}
        {{#empty}}<p class="error">There is no key yet: create one below.</p>{{/empty}}
        {{#recoveryFingerprint}}<p>Your recovery key: <code id="recovery-fingerprint">{{recoveryFingerprint}}</code>. Each doorbell pins it once you confirm this fingerprint there (<code>porchlightctl pair --recovery-fingerprint</code>, or <code>porchlightctl keys trust {{recoveryFingerprint}}</code>), and seals only for keys it signed; <code>porchlightctl status</code> on a doorbell shows the one it pinned.</p>{{/recoveryFingerprint}}
        <section id="new-key" data-recovery="{{hasRecovery}}" data-recovery-point="{{recoveryPoint}}">
        <h2>A key for this browser</h2>
        <p id="key-here" hidden>This browser holds the key <code id="key-here-id"></code>.</p>
        <form id="key-form">
        <label>Label <input id="key-label" required maxlength="64" placeholder="Alice's phone"></label>
        <label>Passphrase <input id="key-passphrase" type="password" required minlength="10" autocomplete="new-password"></label>
        <label>Repeat it <input id="key-repeat" type="password" required minlength="10" autocomplete="new-password"></label>
        {{#recoveryPoint}}<label>Your recovery key (it signs the new key) <input id="key-recovery" required autocomplete="off" placeholder="porchlight-recovery-key:…"></label>{{/recoveryPoint}}
        <button type="submit">Create the key</button>
        </form>
        <p id="key-state" role="status"></p>
        </section>
        <section id="recovery" hidden>
        <h2>Your recovery key</h2>
        <p>Write it down or print it, and keep it away from the house. It is shown only now. It is the key to your media if every other key is lost.</p>
        <pre id="recovery-text"></pre>
        <p id="recovery-pin"></p>
        </section>
        """,
        "access": """
        <h1>Access log</h1>
        <p>Every view, talk, reply, export, share, key change, pairing, config change and deletion, signed by whoever made it: the sync module for the web page, each doorbell for what it did. This page is the sync module's copy; run <code>porchlightctl audit verify</code> on a doorbell to check it against the doorbell's own. The sync module's key: <code>{{fingerprint}}</code>. <form method="post" action="/access.json" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="access-export">Download (JSON)</button></form></p>
        <ul class="verification">
        {{#logs}}<li>{{name}}: {{count}} entries. {{#intact}}<strong class="good">Signatures and chain intact.</strong>{{/intact}}{{^intact}}<strong class="bad">Altered:</strong><ul>{{#findings}}<li class="bad">{{.}}</li>{{/findings}}</ul>{{/intact}}</li>{{/logs}}
        </ul>
        <table>
        <thead><tr><th scope="col">When</th><th scope="col">Log</th><th scope="col">#</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Doorbell</th><th scope="col">Detail</th><th scope="col">From</th></tr></thead>
        <tbody>
        {{#rows}}<tr><td>{{time}}</td><td>{{log}}</td><td>{{sequence}}</td><td>{{actor}}</td><td>{{action}}</td><td>{{device}}</td><td>{{detail}}</td><td>{{source}}</td></tr>{{/rows}}
        </tbody>
        </table>
        """,
        "live": """
        <h1>Live: {{name}}</h1>
        {{^online}}<p class="error">This doorbell is offline.</p>{{/online}}
        <div class="player" id="live" data-device="{{device}}" data-max="{{maxSeconds}}">
        <canvas id="live-canvas" width="640" height="480" aria-label="Live view" data-frames="0"></canvas>
        <div class="controls">
        <button type="button" id="live-start">Start live view</button>
        <button type="button" id="live-stop" disabled>Stop</button>
        <span id="live-state" role="status">Stopped. A live view stops by itself after {{maxSeconds}} s and is recorded in the access log.</span>
        </div>
        </div>
        <section id="talk" class="talk" data-device="{{device}}" data-talk-key="{{talkKey}}" data-sent="0" data-heard="0" aria-labelledby="talk-title">
        <h2 id="talk-title">Talk</h2>
        <p class="controls">
        <button type="button" id="talk-hold">Hold to talk</button>
        <label><input type="checkbox" id="talk-toggle"> Keep talking</label>
        <button type="button" id="talk-end" disabled>End talk</button>
        </p>
        <p id="talk-state" role="status">Not connected. Pressing talk lets you hear the door and speak; each talk session is recorded in the access log.</p>
        {{#hasReplies}}<h2>Quick replies</h2>
        <p class="controls">{{#replies}}<button type="button" class="reply" data-reply="{{.}}">{{.}}</button> {{/replies}}</p>
        <p id="reply-state" role="status"></p>{{/hasReplies}}
        </section>
        """,
        "message": """
        <h1>{{title}}</h1>
        <p>{{text}}</p>
        """,
    ]
}

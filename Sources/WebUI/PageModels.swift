/// What each page template reads, by the names it reads them. Mustache finds fields by reflection,
/// so a field the template names is a stored property here; an optional is left out when nil,
/// which a `{{#section}}` needs (an empty string would count as true).
protocol PageModel {
    /// The file in `Templates/`, without `.mustache`.
    static var template: String { get }
    var title: String { get }
    /// The CSRF token a page without a session carries (the login form's).
    var csrf: String? { get }
}

extension PageModel {
    var csrf: String? { nil }
}

/// The layout around every page.
struct LayoutModel {
    var title: String
    var body: String
    var loggedIn: Bool
    var owner: String
    var csrf: String
}

struct MessagePage: PageModel {
    static let template = "message"
    var title: String
    var text: String
}

struct LoginPage: PageModel {
    static let template = "login"
    let title = "Log in"
    var csrf: String?
    var message: String?
}

struct TimelinePage: PageModel {
    static let template = "timeline"
    let title = "Timeline"
    var rows: [TimelineRow]
    var empty: Bool
    /// The query for the next page, nil on the last.
    var next: String?
    var day: String
    var kinds: [Choice]
    var devices: [DeviceChoice]

    struct Choice {
        var value: String
        var label: String
        var selected: Bool
    }

    struct DeviceChoice {
        var id: String
        var name: String
        var selected: Bool
    }
}

/// One timeline row (`row.mustache`), on the page and in the live updates.
struct TimelineRow {
    static let template = "row"
    var eventID: String
    var kind: String
    var label: String
    var device: String
    var time: String
    var iso: String
    var details: String?
    var snapshot: String?
    var clip: String?
    var waiting: Bool
}

struct DevicesPage: PageModel {
    static let template = "devices"
    let title = "Doorbells"
    var devices: [Device]
    var empty: Bool

    struct Device {
        var id: String
        var name: String
        var online: Bool
        var revoked: Bool
        var lastSeen: String
        var status: String
        var backlog: String
        var version: String
        var camera: String
    }
}

struct AccessPage: PageModel {
    static let template = "access"
    let title = "Access log"
    var rows: [Row]
    var logs: [Verification]
    var fingerprint: String

    struct Row {
        var time: String
        var log: String
        var sequence: Int64
        var actor: String
        var action: String
        var device: String
        var detail: String
        var source: String
    }

    /// What the verifier says of one log.
    struct Verification {
        var name: String
        var count: Int
        var intact: Bool
        var findings: [String]
    }
}

struct KeysPage: PageModel {
    static let template = "keys"
    let title = "Keys"
    var keys: [Key]
    var empty: Bool
    var first: Bool
    /// "true" or "false", for the page's script.
    var hasRecovery: String
    var recoveryPoint: String?
    var recoveryFingerprint: String?

    struct Key {
        var id: String
        var label: String
        var revoked: Bool
        var created: String
    }
}

struct LivePage: PageModel {
    var title: String
    static let template = "live"
    var device: String
    var name: String
    var online: Bool
    var maxSeconds: Int
    var replies: [String]
    var hasReplies: Bool
    var talkKey: String
}

struct ClipPage: PageModel {
    static let template = "clip"
    let title = "Clip"
    var source: String
    var download: String
    var size: String
    var when: String
}

struct SharesPage: PageModel {
    static let template = "shares"
    let title = "Shares"
    var shares: [Share]
    var empty: Bool

    struct Share {
        var id: String
        var device: String
        var media: String
        var created: String
        var until: String
        var opened: Int
        var live: Bool
        var state: String
    }
}

/// The page a share link opens: no session, the clip and its wrapped key.
struct SharedPage: PageModel {
    static let template = "shared"
    let title = "A shared clip"
    var source: String
    var wrapped: String
    var until: String
}

extension String {
    /// Nil for the empty string, which a template's section would take for true.
    var nonEmpty: String? { isEmpty ? nil : self }
}

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

    /// The templates, files in `Sources/WebUI/Templates`, by name.
    static let sources: [String: String] = [
        "access": PackageResources.access_mustache, "clip": PackageResources.clip_mustache,
        "devices": PackageResources.devices_mustache, "keys": PackageResources.keys_mustache,
        "layout": PackageResources.layout_mustache, "live": PackageResources.live_mustache,
        "login": PackageResources.login_mustache, "message": PackageResources.message_mustache,
        "player": PackageResources.player_mustache, "row": PackageResources.row_mustache,
        "shared": PackageResources.shared_mustache, "shares": PackageResources.shares_mustache,
        "timeline": PackageResources.timeline_mustache,
    ].mapValues { String(decoding: $0, as: UTF8.self) }
}

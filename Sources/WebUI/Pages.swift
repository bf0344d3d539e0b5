import Mustache
import SyncStorage

/// The page templates (Mustache, HTML-escaped by default), compiled once at start.
struct Pages: Sendable {
    let library: MustacheLibrary

    init() throws {
        var templates: [String: MustacheTemplate] = [:]
        for (name, text) in Self.sources {
            templates[name] = try MustacheTemplate(string: text)
            // The page with the session's scope below it, so that a form anywhere in the page
            // finds the session's CSRF token (`Scope`).
            templates["page:" + name] = try MustacheTemplate(string: "{{#page}}{{> \(name)}}{{/page}}")
        }
        library = MustacheLibrary(templates: templates)
    }

    /// What a page's template finds when its model does not have the field.
    private struct Scope {
        var csrf: String?
        var page: any PageModel
    }

    /// Renders a page inside the layout; `session` nil renders the login page or a page a share
    /// link opens.
    func render(_ page: some PageModel, session: OwnerSession?) -> String {
        let body =
            library.render(Scope(csrf: session?.csrf, page: page), withTemplate: "page:" + type(of: page).template)
            ?? ""
        let layout = LayoutModel(
            title: page.title, body: body, loggedIn: session != nil, owner: session?.owner ?? "",
            csrf: session?.csrf ?? page.csrf ?? "")
        return library.render(layout, withTemplate: "layout") ?? ""
    }

    /// One timeline row alone, for the live updates.
    func render(_ row: TimelineRow) -> String {
        library.render(row, withTemplate: TimelineRow.template) ?? ""
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
        "notifications": PackageResources.notifications_mustache,
    ].mapValues { String(decoding: $0, as: UTF8.self) }
}

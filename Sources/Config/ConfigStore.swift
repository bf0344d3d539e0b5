import Synchronization

/// The configuration in force. A reload replaces it only with a configuration that validated.
public final class ConfigStore: Sendable {
    private struct State {
        var current: Config
    }

    private let state: Mutex<State>

    public init(_ config: Config) {
        state = Mutex(State(current: config))
    }

    public var current: Config { state.withLock { $0.current } }

    /// Makes `config` the one in force.
    public func apply(_ config: Config) {
        state.withLock { $0.current = config }
    }
}

extension ConfigLoader {
    /// What `porchlightd --check-config` and `porchlightctl config check` print, and whether the
    /// file is valid; the callers exit 0 or 78 (EX_CONFIG) on it.
    public static func checkReport(path: String) -> (valid: Bool, text: String) {
        do {
            let config = try load(path: path)
            var text = "\(path): configuration is valid"
            if config.button.enabled, let line = config.button.line {
                text += "\n  button: line \(line) on \(config.button.chip)"
            }
            if let relay = config.chime.relay {
                text += "\n  chime relay: line \(relay.line) on \(relay.chip)"
            }
            if let line = config.ir.line {
                let when =
                    switch config.ir.schedule {
                    case .hours(let spans):
                        spans.isEmpty ? "never" : spans.map(\.description).joined(separator: ", ")
                    case .dark(let place): "from dusk to dawn at \(place.latitude), \(place.longitude)"
                    }
                text += "\n  IR LEDs: line \(line) on \(config.ir.chip), on \(when)"
            }
            if config.camera.enabled {
                let source = config.camera.source == .file ? config.camera.file ?? "" : config.camera.device
                text +=
                    "\n  camera: \(source), \(config.camera.width)×\(config.camera.height) at \(config.camera.fps) fps"
            }
            text += "\n  sync: \(config.sync.url ?? "not paired")"
            return (true, text)
        } catch {
            return (false, error.description)
        }
    }
}

import Config
import DoorbellCore
import Logging
import ServiceLifecycle

/// The daemon's pipelines. Until their adapters land (button: GPIO; camera and motion: V4L2;
/// audio: ALSA; uplink: the sync protocol) each is a placeholder that only keeps its place in the
/// health registry, reporting itself as degraded so that STATUS= never claims a feature that is
/// not there.
enum Pipelines {
    static let checkInInterval = Duration.seconds(1)
    static let deadline = Duration.seconds(5)

    static func placeholders(for config: Config, registry: HealthRegistry, logger: Logger) -> [any Service] {
        var names: [String] = []
        if config.button.enabled { names.append("button") }
        if config.camera.enabled { names.append("camera") }
        if config.camera.enabled && config.motion.enabled { names.append("motion") }
        if config.audio.enabled { names.append("audio") }
        names.append("uplink")
        return names.map { name in
            PlaceholderPipeline(reporter: registry.register(name, deadline: deadline), logger: logger)
        }
    }
}

/// Keeps a pipeline's place in the composition until its adapter exists.
struct PlaceholderPipeline: Service {
    let reporter: HealthReporter
    let logger: Logger

    func run() async throws {
        logger.notice(
            "Pipeline not built yet; running a placeholder.", metadata: [LogKey.component: "\(reporter.name)"])
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            reporter.checkIn(.degraded("not built yet"))
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: Pipelines.checkInInterval) }
        }
    }
}

import Prometheus
import SyncProtocol
import SyncStorage

/// The sync module's Prometheus metrics, served at `/metrics`: events received (by kind), media
/// bytes stored, devices paired and devices online (an open control channel). Counts only: no
/// event content, device names or addresses.
public final class SyncMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let mediaBytes: Gauge
    private let devicesOnline: Gauge
    private let devicesPaired: Gauge
    private let mediaStored: Counter

    public init() {
        mediaBytes = registry.makeGauge(
            name: "porchlight_sync_media_bytes", help: "Bytes of snapshots and clips on the sync module's disk.")
        devicesOnline = registry.makeGauge(
            name: "porchlight_sync_devices_online", help: "Doorbells with an open control channel.")
        devicesPaired = registry.makeGauge(
            name: "porchlight_sync_devices_paired", help: "Doorbells paired and not revoked.")
        mediaStored = registry.makeCounter(
            name: "porchlight_sync_media_stored_total", help: "Snapshots and clips completely received.")
    }

    /// A kind this version does not know counts as `other`, so that what a doorbell sends cannot
    /// add label values without bound.
    static func label(_ kind: EventKind) -> String {
        if case .other = kind { "other" } else { kind.rawValue }
    }

    func received(_ events: [StoredEvent]) {
        for event in events {
            registry.makeCounter(
                name: "porchlight_sync_events_received_total", labels: [("kind", Self.label(event.event.kind))],
                help: "Events stored, by kind (repeats of an already stored event are not counted)."
            ).increment()
        }
    }

    func mediaCompleted() { mediaStored.increment() }

    /// The text exposition, with the gauges read now.
    func render(mediaBytes bytes: Int, online: Int, paired: Int) -> [UInt8] {
        mediaBytes.set(Double(bytes))
        devicesOnline.set(Double(online))
        devicesPaired.set(Double(paired))
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}

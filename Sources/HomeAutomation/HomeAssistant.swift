import Config
import DoorbellCore
import Foundation

/// The doorbell's topics under `mqtt.topic_prefix` (docs/mqtt.md lists each payload).
public struct MQTTTopics: Sendable, Equatable {
    public let base: String
    public let discoveryPrefix: String
    public let device: String

    public init(_ config: MQTTConfig) {
        base = "\(config.topicPrefix)/\(config.deviceID)"
        discoveryPrefix = config.discoveryPrefix
        device = config.deviceID
    }

    public var availability: String { "\(base)/availability" }
    public var ring: String { "\(base)/ring" }
    /// Home Assistant's event entity: `{"event_type": "press", ...}`.
    public var doorbell: String { "\(base)/doorbell" }
    public var motion: String { "\(base)/motion" }
    public var motionAttributes: String { "\(base)/motion/attributes" }
    public var event: String { "\(base)/event" }
    public var doNotDisturb: String { "\(base)/do_not_disturb" }
    public var chimeMute: String { "\(base)/chime_mute" }
    public var status: String { "\(base)/status" }
    public var statusAttributes: String { "\(base)/status/attributes" }
    public var snapshot: String { "\(base)/snapshot" }
    public var test: String { "\(base)/test" }
    /// Home Assistant's birth and last will (`online` / `offline`).
    public var homeAssistantStatus: String { "\(discoveryPrefix)/status" }

    public func command(_ state: String) -> String { "\(state)/set" }

    /// One retained config topic per entity: `<prefix>/<component>/<device>/<object>/config`.
    public func discovery(_ component: String, _ object: String) -> String {
        "\(discoveryPrefix)/\(component)/\(device)/\(object)/config"
    }
}

/// Home Assistant's MQTT discovery for the doorbell (every release since 2023.8): one config per
/// entity, all sharing one `device` block and the availability topic.
public enum HomeAssistantDiscovery {
    public struct Entity: Sendable {
        public var topic: String
        /// Nil removes the entity: an empty retained message.
        public var config: [String: any Sendable]?
    }

    public static func entities(
        _ config: MQTTConfig, deviceName: String, version: String, camera: Bool
    ) -> [Entity] {
        let topics = MQTTTopics(config)
        let device: [String: any Sendable] = [
            "identifiers": ["porchlight_\(config.deviceID)"], "name": deviceName, "manufacturer": "Porchlight",
            "model": "Porchlight doorbell", "sw_version": version,
        ]
        func entity(_ component: String, _ object: String, _ name: String, _ extra: [String: any Sendable])
            -> Entity
        {
            var body: [String: any Sendable] = [
                "name": name, "unique_id": "porchlight_\(config.deviceID)_\(object)",
                "availability_topic": topics.availability, "payload_available": "online",
                "payload_not_available": "offline", "device": device,
                "origin": ["name": "Porchlight", "sw_version": version],
            ]
            body.merge(extra) { _, new in new }
            return Entity(topic: topics.discovery(component, object), config: body)
        }
        var entities = [
            entity(
                "event", "doorbell", "Doorbell",
                [
                    "device_class": "doorbell", "state_topic": topics.doorbell,
                    "event_types": ["press", "long_press", "ring"],
                ]),
            entity(
                "switch", "do_not_disturb", "Do not disturb",
                [
                    "state_topic": topics.doNotDisturb, "command_topic": topics.command(topics.doNotDisturb),
                    "icon": "mdi:bell-sleep",
                ]),
            entity(
                "switch", "chime_mute", "Chime mute",
                [
                    "state_topic": topics.chimeMute, "command_topic": topics.command(topics.chimeMute),
                    "icon": "mdi:bell-off",
                ]),
            entity(
                "sensor", "status", "Status",
                [
                    "state_topic": topics.status, "json_attributes_topic": topics.statusAttributes,
                    "entity_category": "diagnostic", "icon": "mdi:heart-pulse",
                ]),
        ]
        let motion = entity(
            "binary_sensor", "motion", "Motion",
            [
                "device_class": "motion", "state_topic": topics.motion,
                "json_attributes_topic": topics.motionAttributes,
                "payload_on": "ON", "payload_off": "OFF",
            ])
        entities.append(camera ? motion : Entity(topic: motion.topic, config: nil))
        let image = entity(
            "image", "snapshot", "Snapshot", ["image_topic": topics.snapshot, "content_type": "image/jpeg"])
        entities.append(camera && config.snapshots ? image : Entity(topic: image.topic, config: nil))
        return entities
    }
}

/// The plain topics' payloads, for Node-RED and scripts (docs/mqtt.md). Times are Unix seconds
/// with milliseconds, as Frigate's are.
public enum MQTTPayloads {
    public static func json(_ object: [String: any Sendable]) -> [UInt8] {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
        return data.map { [UInt8]($0) } ?? Array("{}".utf8)
    }

    static func seconds(_ milliseconds: Int64) -> Double { Double(milliseconds) / 1000 }

    public static func ring(_ ring: Ring) -> [String: any Sendable] {
        [
            "event_id": ring.id.rawValue, "press_count": ring.pressCount, "at": seconds(ring.wall.epochMilliseconds),
            "chime_silenced": ring.chimeSilenced,
        ]
    }

    /// A later press of `ringID`; `chimeSilenced` is the ring's (the chime is struck only once).
    public static func pressCount(_ ringID: EventID, _ count: Int, at milliseconds: Int64, chimeSilenced: Bool)
        -> [String: any Sendable]
    {
        [
            "event_id": ringID.rawValue, "press_count": count, "at": seconds(milliseconds),
            "chime_silenced": chimeSilenced,
        ]
    }
}

/// Frigate's event shape (`frigate/events`: `type` new, update or end, with `before` and
/// `after`), so that automations written for Frigate's events read the doorbell's too.
struct FrigateEvents {
    private var current: [String: [String: any Sendable]] = [:]
    let camera: String
    let hasSnapshot: Bool

    init(camera: String, hasSnapshot: Bool) {
        self.camera = camera
        self.hasSnapshot = hasSnapshot
    }

    /// The message for `event`, or nil for events that are not visits.
    mutating func message(for event: DoorbellEvent) -> [String: any Sendable]? {
        let id: String
        var after: [String: any Sendable]
        let type: String
        switch event {
        case .ring(let ring):
            id = ring.id.rawValue
            type = "new"
            after = base(id, label: "ring", start: ring.wall.epochMilliseconds, zones: [])
            after["press_count"] = ring.pressCount
        case .ringPressCount(let ringID, let count):
            id = ringID.rawValue
            guard var known = current[id] else { return nil }
            type = "update"
            known["press_count"] = count
            after = known
        case .motion(let motion):
            id = motion.id.rawValue
            switch motion.phase {
            case .started:
                type = "new"
                after = base(id, label: "motion", start: motion.wall.epochMilliseconds, zones: motion.zones)
            case .updated, .ended:
                type = motion.phase == .ended ? "end" : "update"
                after =
                    current[id] ?? base(id, label: "motion", start: motion.wall.epochMilliseconds, zones: motion.zones)
                let entered = Set((after["entered_zones"] as? [String]) ?? []).union(motion.zones)
                after["entered_zones"] = entered.sorted()
                after["current_zones"] = motion.phase == .ended ? [String]() : motion.zones
                if motion.phase == .ended { after["end_time"] = MQTTPayloads.seconds(motion.wall.epochMilliseconds) }
            }
            after["score"] = motion.score
            after["top_score"] = max(motion.score, (after["top_score"] as? Double) ?? 0)
        case .longPress, .mediaEvicted:
            return nil
        }
        let before = current[id] ?? after
        // One visit of each kind is tracked; an ended one is forgotten.
        current = current.filter { ($0.value["label"] as? String) != (after["label"] as? String) }
        if type != "end" { current[id] = after }
        return ["type": type, "before": before, "after": after]
    }

    private func base(_ id: String, label: String, start: Int64, zones: [String]) -> [String: any Sendable] {
        [
            "id": id, "camera": camera, "label": label, "start_time": MQTTPayloads.seconds(start),
            "end_time": NSNull(), "current_zones": zones, "entered_zones": zones, "has_snapshot": hasSnapshot,
            "has_clip": hasSnapshot, "false_positive": false, "score": 1.0, "top_score": 1.0,
        ]
    }
}

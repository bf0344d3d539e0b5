/// Every logging metadata key, defined once. The journald handler turns each into a field named
/// `PORCHLIGHT_<KEY>` (so `event_id` is searchable as `PORCHLIGHT_EVENT_ID=`).
public enum LogKey {
    public static let component = "component"
    public static let error = "error"
    public static let eventID = "event_id"
    public static let device = "device"
    public static let file = "file"
    public static let state = "state"
    public static let reason = "reason"
    public static let suppressed = "suppressed"
    public static let signal = "signal"
    public static let version = "version"
    public static let event = "event"
    public static let pressCount = "press_count"
    public static let chimeSilenced = "chime_silenced"
    public static let ringID = "ring_id"
    public static let chip = "chip"
    public static let line = "line"
    public static let zones = "zones"
    public static let boxes = "boxes"
    public static let sequence = "sequence"
    public static let media = "media"
    public static let hint = "hint"
    /// Set on every log entry that records an access (a live view, a talk session, a quick reply,
    /// a key or config change, a pairing): `journalctl PORCHLIGHT_ACCESS=talk` lists them.
    public static let access = "access"
    public static let accessActor = "access_actor"
    public static let accessDetail = "access_detail"
    public static let accessSource = "access_source"
    /// The entry's number in the doorbell's signed access log.
    public static let accessSequence = "access_sequence"
}

/// The edges of a doorbell button. The GPIO adapter implements it on libgpiod; tests script it.
public protocol ButtonSource: Sendable {
    /// Opens the line and streams its edges. Throws at once if the line cannot be opened; the
    /// stream ends with an error if the device fails later. Ending the iteration releases the line.
    func edges() throws -> AsyncThrowingStream<ButtonEdge, any Error>
}

/// One GPIO output, such as the chime relay. `set` must be quick: it runs on the ring path.
public protocol DigitalOutput: Sendable {
    /// Drives the line to its active (`true`) or inactive level; active-low is the adapter's job.
    func set(active: Bool) throws
}

/// Something that sounds when a visitor rings. `strike` returns at once: the ring path never
/// waits for a relay pulse, a sound, the disk or the network.
public protocol ChimeOutput: Sendable {
    func strike()
}

/// Where events go: the outbox once it exists. May be slow or failing; the ring path does not
/// wait for it.
public protocol EventSink: Sendable {
    func deliver(_ event: DoorbellEvent) async throws
}

/// The media pipeline's side of an event: a snapshot near `monotonic` and a clip around it.
public protocol MediaCapture: Sendable {
    func captureEvent(_ id: EventID, at monotonic: Duration)
}

/// A finished snapshot or clip on local storage, waiting to be uploaded.
public struct MediaItem: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// The small picture a notification shows, also sealed for the browsers' notification
        /// keys; sent first.
        case thumbnail
        case snapshot, clip

        /// The order the uplink sends an event's media in: what a notification waits for first.
        public var uploadOrder: Int {
            switch self {
            case .thumbnail: 0
            case .snapshot: 1
            case .clip: 2
            }
        }
    }

    /// `<eventID>-thumbnail`, `-snapshot` or `-clip`: unique, and the sync module's name for it.
    public var id: String { "\(eventID)-\(kind.rawValue)" }
    public var eventID: EventID
    public var kind: Kind
    public var path: String
    public var size: Int

    public init(eventID: EventID, kind: Kind, path: String, size: Int) {
        self.eventID = eventID
        self.kind = kind
        self.path = path
        self.size = size
    }
}

/// The uplink's view of the media store: finished media, oldest first, and a way to let go of
/// an item once the sync module holds it (the doorbell keeps no copy: a stolen doorbell should
/// hold as little footage as possible).
public protocol MediaQueue: Sendable {
    func waiting() throws -> [MediaItem]
    func uploaded(_ item: MediaItem) throws
    /// The sync module refused the item as malformed: keep it aside, out of the queue.
    func reject(_ item: MediaItem) throws
}

/// Media capture before the camera pipeline exists: asks for nothing.
public struct NoMediaCapture: MediaCapture {
    public init() {}
    public func captureEvent(_ id: EventID, at monotonic: Duration) {}
}

/// The clocks the engine reads: CLOCK_MONOTONIC (the kernel's edge timestamps use it) and the
/// wall clock.
public protocol DoorbellClock: Sendable {
    func monotonicNow() -> Duration
    func wallNow() -> WallTime
}

/// How a frame's bytes are laid out.
public enum PixelFormat: String, Sendable, Equatable {
    /// One baseline JPEG per frame.
    case mjpeg
    /// Packed 4:2:2, two bytes a pixel: Y0 U Y1 V.
    case yuyv
}

/// One camera frame: its bytes as the camera gave them and when it was captured.
public struct Frame: Sendable {
    public var bytes: [UInt8]
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    /// CLOCK_MONOTONIC capture time (the driver's timestamp for V4L2).
    public var timestamp: Duration
    public var sequence: UInt64

    public init(bytes: [UInt8], format: PixelFormat, width: Int, height: Int, timestamp: Duration, sequence: UInt64) {
        self.bytes = bytes
        self.format = format
        self.width = width
        self.height = height
        self.timestamp = timestamp
        self.sequence = sequence
    }
}

/// A camera: V4L2 on the doorbell, an MJPEG file in demos and tests.
public protocol FrameSource: Sendable {
    /// Opens the camera and streams frames. Throws at once if it cannot be opened; the stream
    /// ends with an error if the camera goes away. Ending the iteration closes it.
    func frames() throws -> AsyncThrowingStream<Frame, any Error>
}

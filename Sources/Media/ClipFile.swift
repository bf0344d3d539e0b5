import DoorbellCore
import Privacy
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Clips as Matroska files with MJPEG video (`V_MJPEG`), which ffmpeg, VLC, mpv and browsers'
/// media stacks open, and, only when the owner turned on `privacy.bystander_audio`, a second track
/// of 16 kHz mono PCM (`A_PCM/INT/LIT`) on the same timeline. They are written the way live Matroska is: the Segment and each Cluster have
/// "unknown" sizes and every frame is a SimpleBlock appended as it comes, so no header has to be
/// rewritten at the end. A file cut short by a crash, a full disk or an unplugged camera is
/// therefore still a valid Matroska stream up to its last complete block, and `read` (like the
/// players) keeps every complete frame; a block whose JPEG is not whole (a power cut can leave
/// zeros) ends the clip there.
public enum ClipFile {
    public struct Header: Sendable, Equatable {
        public var eventID: String
        public var width: Int
        public var height: Int
        /// Whether the clip has the audio track.
        public var audio: Bool

        public init(eventID: String, width: Int, height: Int, audio: Bool = false) {
            self.eventID = eventID
            self.width = width
            self.height = height
            self.audio = audio
        }
    }

    public struct Contents: Sendable {
        public var header: Header
        /// Each frame's time from the start of the clip, and its JPEG.
        public var frames: [(timestamp: Duration, bytes: [UInt8])]
        /// Each audio block's time from the start of the clip, and its samples.
        public var audio: [(timestamp: Duration, samples: [Int16])] = []
        /// The file ended inside an element, or an element was damaged: what follows was dropped.
        public var truncated: Bool
    }

    public struct FormatError: Error, CustomStringConvertible {
        public var description: String
    }

    // Element IDs (with their length markers) from the Matroska specification.
    static let ebml: UInt32 = 0x1A45_DFA3
    static let segment: UInt32 = 0x1853_8067
    static let info: UInt32 = 0x1549_A966
    static let tracks: UInt32 = 0x1654_AE6B
    static let cluster: UInt32 = 0x1F43_B675
    static let timecode: UInt32 = 0xE7
    static let simpleBlock: UInt32 = 0xA3
    static let title: UInt32 = 0x7BA9
    static let trackEntry: UInt32 = 0xAE
    static let video: UInt32 = 0xE0
    static let pixelWidth: UInt32 = 0xB0
    static let pixelHeight: UInt32 = 0xBA
    static let codecID: UInt32 = 0x86
    static let audioSettings: UInt32 = 0xE1
    /// The all-ones 8-byte size: "unknown", ended by the next element of the same or a higher level.
    static let unknownSize: [UInt8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]

    // MARK: Writing

    static func headerBytes(_ header: Header) -> [UInt8] {
        let ebmlHeader = element(
            ebml,
            [
                element(0x4286, uint(1)), element(0x42F7, uint(1)), element(0x42F2, uint(4)),
                element(0x42F3, uint(8)), element(0x4282, Array("matroska".utf8)), element(0x4287, uint(4)),
                element(0x4285, uint(2)),
            ].flatMap { $0 })
        let segmentInfo = element(
            info,
            [
                element(0x2AD7B1, uint(1_000_000)),  // TimecodeScale: milliseconds
                element(0x4D80, Array("porchlight".utf8)), element(0x5741, Array("porchlight".utf8)),
                element(title, Array(header.eventID.utf8)),
            ].flatMap { $0 })
        let videoTrack = element(
            trackEntry,
            [
                element(0xD7, uint(1)), element(0x73C5, uint(1)), element(0x83, uint(1)),  // number, UID, video
                element(0x9C, uint(0)), element(codecID, Array("V_MJPEG".utf8)),
                element(
                    video,
                    element(pixelWidth, uint(UInt64(header.width))) + element(pixelHeight, uint(UInt64(header.height)))),
            ].flatMap { $0 })
        // 16 kHz (an EBML float, big-endian IEEE 754), one channel, 16 bits.
        let rate = withUnsafeBytes(of: Float64(16_000).bitPattern.bigEndian) { Array($0) }
        let audioTrack = element(
            trackEntry,
            [
                element(0xD7, uint(2)), element(0x73C5, uint(2)), element(0x83, uint(2)),  // number, UID, audio
                element(0x9C, uint(0)), element(codecID, Array("A_PCM/INT/LIT".utf8)),
                element(audioSettings, element(0xB5, rate) + element(0x9F, uint(1)) + element(0x6264, uint(16))),
            ].flatMap { $0 })
        let trackList = element(tracks, videoTrack + (header.audio ? audioTrack : []))
        return ebmlHeader + id(segment) + unknownSize + segmentInfo + trackList
    }

    static func clusterStart(at milliseconds: UInt64) -> [UInt8] {
        id(cluster) + unknownSize + element(timecode, uint(milliseconds))
    }

    /// A keyframe SimpleBlock on `track` (1 video, 2 audio), `offset` ms after its cluster's time.
    static func block(_ jpeg: [UInt8], offset: Int16, track: UInt8 = 1) -> [UInt8] {
        let body: [UInt8] = [
            0x80 | track, UInt8(truncatingIfNeeded: UInt16(bitPattern: offset) >> 8),
            UInt8(truncatingIfNeeded: UInt16(bitPattern: offset)), 0x80,
        ]
        return id(simpleBlock) + size(body.count + jpeg.count) + body + jpeg
    }

    static func element(_ elementID: UInt32, _ body: [UInt8]) -> [UInt8] {
        id(elementID) + size(body.count) + body
    }

    static func id(_ value: UInt32) -> [UInt8] {
        let length = value > 0xFF_FFFF ? 4 : value > 0xFFFF ? 3 : value > 0xFF ? 2 : 1
        return (0..<length).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt32($0))) }
    }

    /// An EBML size as an 8-byte vint when large, else the shortest that fits.
    static func size(_ value: Int) -> [UInt8] {
        for length in 1...8 where UInt64(value) < (UInt64(1) << (7 * UInt64(length))) - 1 {
            var bytes = (0..<length).reversed().map { UInt8(truncatingIfNeeded: UInt64(value) >> (8 * UInt64($0))) }
            bytes[0] |= UInt8(0x80 >> (length - 1))
            return bytes
        }
        fatalError("element of \(value) bytes")  // unreachable: clips are far below 2^56 bytes
    }

    static func uint(_ value: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        var rest = value
        repeat {
            bytes.insert(UInt8(truncatingIfNeeded: rest), at: 0)
            rest >>= 8
        } while rest > 0
        return bytes
    }

    // MARK: Reading

    /// Reads a clip, keeping every complete frame.
    public static func read(_ bytes: [UInt8]) throws(FormatError) -> Contents {
        var cursor = 0
        var header = Header(eventID: "", width: 0, height: 0)
        var frames: [(Duration, [UInt8])] = []
        var audio: [(Duration, [Int16])] = []
        var clusterTime: UInt64 = 0
        var truncated = false
        var sawEBML = false
        var sawTrack = false
        while cursor < bytes.count {
            guard let (elementID, idLength) = readID(bytes, cursor),
                let (length, sizeLength) = readSize(bytes, cursor + idLength)
            else {
                truncated = true
                break
            }
            let body = cursor + idLength + sizeLength
            switch elementID {
            case segment, info, cluster, tracks, trackEntry, video, audioSettings:
                cursor = body  // masters: read their children in line (sizes may be unknown)
                continue
            default:
                break
            }
            // Subtracted, not added: a size near Int.max must not overflow (found by fuzzing).
            guard let length, body <= bytes.count, length <= bytes.count - body else {
                truncated = true
                break
            }
            let content = Array(bytes[body..<(body + length)])
            switch elementID {
            case ebml:
                sawEBML = content.containsSubsequence(Array("matroska".utf8))
            case title: header.eventID = String(decoding: content, as: UTF8.self)
            case pixelWidth: header.width = Int(min(readUInt(content), Self.maximumDimension))
            case pixelHeight: header.height = Int(min(readUInt(content), Self.maximumDimension))
            case codecID:
                if content == Array("V_MJPEG".utf8) { sawTrack = true }
                if content == Array("A_PCM/INT/LIT".utf8) { header.audio = true }
            case timecode:
                // A cluster time past any clip's length is damage, and would not fit the
                // millisecond arithmetic below (found by fuzzing).
                clusterTime = readUInt(content)
                if clusterTime > Self.maximumClusterTime { truncated = true }
            case simpleBlock where content.count >= 4 && content[0] == 0x82:
                // Audio: little-endian samples; a block cut mid-sample ends the clip.
                guard header.audio, (content.count - 4) % 2 == 0 else {
                    truncated = true
                    break
                }
                let offset = Int16(bitPattern: UInt16(content[1]) << 8 | UInt16(content[2]))
                let samples = stride(from: 4, to: content.count, by: 2).map {
                    Int16(bitPattern: UInt16(content[$0]) | UInt16(content[$0 + 1]) << 8)
                }
                audio.append((.milliseconds(Int64(clusterTime) + Int64(offset)), samples))
            case simpleBlock:
                // A JPEG starts with SOI and ends with EOI; a block that does not was cut or
                // zero-filled by a power loss, and nothing after it is trusted.
                guard content.count >= 8, content[0] == 0x81, content[4] == 0xFF, content[5] == 0xD8,
                    content[content.count - 2] == 0xFF, content[content.count - 1] == 0xD9
                else {
                    truncated = true
                    break
                }
                let offset = Int16(bitPattern: UInt16(content[1]) << 8 | UInt16(content[2]))
                let milliseconds = Int64(clusterTime) + Int64(offset)
                frames.append((.milliseconds(milliseconds), Array(content[4...])))
            default:
                break
            }
            if truncated { break }
            cursor = body + length
        }
        guard sawEBML else { throw FormatError(description: "not a Matroska file") }
        guard sawTrack || frames.isEmpty else { throw FormatError(description: "no MJPEG video track") }
        return Contents(header: header, frames: frames, audio: audio, truncated: truncated)
    }

    static func readID(_ bytes: [UInt8], _ at: Int) -> (UInt32, Int)? {
        guard at < bytes.count else { return nil }
        let first = bytes[at]
        let length = first >= 0x80 ? 1 : first >= 0x40 ? 2 : first >= 0x20 ? 3 : first >= 0x10 ? 4 : 0
        guard length > 0, at + length <= bytes.count else { return nil }
        return (bytes[at..<(at + length)].reduce(0) { $0 << 8 | UInt32($1) }, length)
    }

    /// A size and its length; the size is nil when it is "unknown".
    static func readSize(_ bytes: [UInt8], _ at: Int) -> (Int?, Int)? {
        guard at < bytes.count, bytes[at] != 0 else { return nil }
        let length = bytes[at].leadingZeroBitCount + 1
        guard at + length <= bytes.count else { return nil }
        var value = UInt64(bytes[at] & (0xFF >> length))
        var allOnes = value == UInt64(0xFF >> length)
        for byte in bytes[(at + 1)..<(at + length)] {
            value = value << 8 | UInt64(byte)
            allOnes = allOnes && byte == 0xFF
        }
        return (allOnes ? nil : Int(exactly: value), length)
    }

    /// Bounds on what a clip's header and clusters may say: a frame side, and a cluster's time in
    /// milliseconds (about 34 years).
    static let maximumDimension: UInt64 = 1 << 16
    static let maximumClusterTime: UInt64 = 1 << 40

    static func readUInt(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}

extension Array where Element == UInt8 {
    fileprivate func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}

/// Writes one clip file. Frames are appended as they come; a new cluster starts every second, and
/// each cluster start is fdatasync'ed, so a power cut loses at most about a second. `finish`
/// fsyncs the file and its directory and renames it into place.
public final class ClipWriter {
    public let path: String
    private let partial: String
    private var descriptor: FileDescriptor?
    private var firstTimestamp: Duration?
    private var clusterStart: Duration?
    public private(set) var frameCount = 0
    public private(set) var byteCount = 0
    static let clusterLength = Duration.seconds(1)

    /// Seals the file for the owner's keys as it is written, when there are keys (docs/privacy.md).
    private var sealer: MediaSealer?

    public init(path: String, header: ClipFile.Header, sealer: MediaSealer? = nil) throws {
        self.path = path
        partial = path + ".partial"
        let descriptor = try FileDescriptor.open(
            FilePath(partial), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
        self.descriptor = descriptor
        self.sealer = sealer
        if let sealer { try writeFile(sealer.header) }
        try write(ClipFile.headerBytes(header))
    }

    /// Starts a cluster: what came before is made durable (sealed as a chunk of its own first).
    private func startCluster(at time: Duration) throws {
        if clusterStart != nil {
            if sealer != nil { try writeFile(sealer!.flush()) }
            if let descriptor { _ = fdatasync(descriptor.rawValue) }
        }
        clusterStart = time
        try write(ClipFile.clusterStart(at: UInt64(time / .milliseconds(1))))
    }

    /// Appends a JPEG frame at its capture time.
    public func append(_ frame: Frame) throws {
        let first = firstTimestamp ?? frame.timestamp
        firstTimestamp = first
        let time = max(.zero, frame.timestamp - first)
        if clusterStart.map({ time - $0 >= Self.clusterLength || time < $0 }) ?? true {
            try startCluster(at: time)
        }
        let offset = Int16(clamping: Int((time - clusterStart!) / .milliseconds(1)))
        try write(ClipFile.block(frame.bytes, offset: offset))
        frameCount += 1
    }

    /// Appends microphone audio (16 kHz mono) whose first sample was recorded at `timestamp`, on
    /// the same clock as the frames. Audio before the clip's first frame is dropped; audio that
    /// arrives after a later frame (it lags by its capture period) is placed by its own time.
    public func appendAudio(_ samples: [Int16], at timestamp: Duration) throws {
        guard let first = firstTimestamp, timestamp >= first, let start = clusterStart else { return }
        let time = timestamp - first
        if time - start >= Self.clusterLength {
            try startCluster(at: time)
        }
        let offset = Int16(clamping: Int((time - clusterStart!) / .milliseconds(1)))
        let bytes = samples.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
        try write(ClipFile.block(bytes, offset: offset, track: 2))
    }

    /// Makes the clip durable and gives it its final name.
    public func finish() throws {
        guard descriptor != nil else { return }
        if sealer != nil { try writeFile(sealer!.finish()) }
        guard let descriptor else { return }
        self.descriptor = nil
        defer { try? descriptor.close() }
        guard fsync(descriptor.rawValue) == 0 else { throw Errno(rawValue: errno) }
        guard rename(partial, path) == 0 else { throw Errno(rawValue: errno) }
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        let directoryDescriptor = try FileDescriptor.open(FilePath(directory.isEmpty ? "." : directory), .readOnly)
        defer { try? directoryDescriptor.close() }
        _ = fsync(directoryDescriptor.rawValue)
    }

    /// Matroska bytes, sealed first when the clip is sealed.
    private func write(_ bytes: [UInt8]) throws {
        if sealer != nil {
            try writeFile(sealer!.seal(bytes))
        } else {
            try writeFile(bytes)
        }
    }

    private func writeFile(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty, let descriptor else { return }
        _ = try bytes.withUnsafeBytes { try descriptor.writeAll($0) }
        byteCount += bytes.count
    }

    deinit { try? descriptor?.close() }
}

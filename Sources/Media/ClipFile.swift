import DoorbellCore
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The clip container: a crash-safe, append-only file of frames. A header names the clip; then
/// each frame is a record `"PLFR" | length (u32) | timestamp µs (i64) | CRC-32 (u32) | bytes`,
/// all little-endian. A reader keeps every record up to the first incomplete or corrupt one, so a
/// clip cut short by a crash, a full disk or an unplugged camera still plays up to its last
/// complete frame. The writer writes to `NAME.partial`, fsyncs, and renames when done.
public enum ClipFile {
    static let magic = Array("PLCLIP1\n".utf8)
    static let recordMagic = Array("PLFR".utf8)
    static let recordHeaderSize = 4 + 4 + 8 + 4

    public struct Header: Sendable, Equatable {
        public var eventID: String
        public var format: PixelFormat
        public var width: Int
        public var height: Int

        public init(eventID: String, format: PixelFormat, width: Int, height: Int) {
            self.eventID = eventID
            self.format = format
            self.width = width
            self.height = height
        }
    }

    public struct Contents: Sendable {
        public var header: Header
        public var frames: [(timestamp: Duration, bytes: [UInt8])]
        /// The file ended inside a record (or a record was damaged): what follows was dropped.
        public var truncated: Bool
    }

    public struct FormatError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads a clip, keeping every complete frame record.
    public static func read(_ bytes: [UInt8]) throws(FormatError) -> Contents {
        guard bytes.count >= magic.count + 2, Array(bytes[..<magic.count]) == magic else {
            throw FormatError(description: "not a Porchlight clip")
        }
        var cursor = magic.count
        let headerLength = Int(readInteger(bytes, cursor, as: UInt16.self))
        cursor += 2
        guard cursor + headerLength <= bytes.count, headerLength >= 5 else {
            throw FormatError(description: "the clip header is incomplete")
        }
        let header = Header(
            eventID: String(decoding: bytes[(cursor + 5)..<(cursor + headerLength)], as: UTF8.self),
            format: bytes[cursor] == 1 ? .yuyv : .mjpeg,
            width: Int(readInteger(bytes, cursor + 1, as: UInt16.self)),
            height: Int(readInteger(bytes, cursor + 3, as: UInt16.self)))
        cursor += headerLength
        var frames: [(Duration, [UInt8])] = []
        var truncated = false
        while cursor < bytes.count {
            guard cursor + recordHeaderSize <= bytes.count, Array(bytes[cursor..<(cursor + 4)]) == recordMagic else {
                truncated = true
                break
            }
            let length = Int(readInteger(bytes, cursor + 4, as: UInt32.self))
            let micros = Int64(bitPattern: readInteger(bytes, cursor + 8, as: UInt64.self))
            let crc = readInteger(bytes, cursor + 16, as: UInt32.self)
            let body = cursor + recordHeaderSize
            guard body + length <= bytes.count, CRC32.checksum(bytes[body..<(body + length)]) == crc else {
                truncated = true
                break
            }
            frames.append((.microseconds(micros), Array(bytes[body..<(body + length)])))
            cursor = body + length
        }
        return Contents(header: header, frames: frames, truncated: truncated)
    }

    static func headerBytes(_ header: Header) -> [UInt8] {
        var body: [UInt8] = [header.format == .yuyv ? 1 : 0]
        append(UInt16(header.width), to: &body)
        append(UInt16(header.height), to: &body)
        body += Array(header.eventID.utf8)
        var bytes = magic
        append(UInt16(body.count), to: &bytes)
        return bytes + body
    }

    static func record(_ frame: Frame) -> [UInt8] {
        var bytes = recordMagic
        append(UInt32(frame.bytes.count), to: &bytes)
        append(UInt64(bitPattern: Int64(frame.timestamp / .microseconds(1))), to: &bytes)
        append(CRC32.checksum(frame.bytes[...]), to: &bytes)
        return bytes + frame.bytes
    }

    static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func readInteger<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, as: T.Type) -> T {
        var value: T = 0
        for index in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + index]) << (8 * index) }
        return value
    }
}

/// Writes one clip file. Each frame is written as it comes; `finish` fsyncs the file and its
/// directory and renames it into place, so a finished clip is complete on disk.
public final class ClipWriter {
    public let path: String
    private let partial: String
    private var descriptor: FileDescriptor?
    public private(set) var frameCount = 0
    public private(set) var byteCount = 0

    public init(path: String, header: ClipFile.Header) throws {
        self.path = path
        partial = path + ".partial"
        let descriptor = try FileDescriptor.open(
            FilePath(partial), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
        self.descriptor = descriptor
        try write(ClipFile.headerBytes(header))
    }

    public func append(_ frame: Frame) throws {
        try write(ClipFile.record(frame))
        frameCount += 1
    }

    /// Makes the clip durable and gives it its final name.
    public func finish() throws {
        guard let descriptor else { return }
        self.descriptor = nil
        defer { try? descriptor.close() }
        guard fsync(descriptor.rawValue) == 0 else { throw Errno(rawValue: errno) }
        try descriptor.close()
        guard rename(partial, path) == 0 else { throw Errno(rawValue: errno) }
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        let directoryDescriptor = try FileDescriptor.open(FilePath(directory.isEmpty ? "." : directory), .readOnly)
        defer { try? directoryDescriptor.close() }
        _ = fsync(directoryDescriptor.rawValue)
    }

    private func write(_ bytes: [UInt8]) throws {
        guard let descriptor else { return }
        _ = try bytes.withUnsafeBytes { try descriptor.writeAll($0) }
        byteCount += bytes.count
    }

    deinit { try? descriptor?.close() }
}

/// CRC-32 (IEEE 802.3, as zlib computes it), table-driven.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

import Foundation

/// File-backed ALSA devices for one test: `playbackDevice` plays into `out.raw` and
/// `captureDevice` captures from `in.raw` (raw S16_LE, 16 kHz mono), both over the null device.
/// They are ALSA's own `file` plugin, defined once per process as PCMs with a FILE argument in
/// an asoundrc that `ALSA_CONFIG_PATH` and `HOME` point at, so no system or user ALSA config is
/// involved and tests running at the same time do not share files.
public final class ALSAFiles {
    public let directory: String

    /// The asoundrc, for a child process's `ALSA_CONFIG_PATH`.
    public static var configurationPath: String {
        configuration
        return NSTemporaryDirectory() + "porchlight-alsa-\(getpid())/asoundrc"
    }

    /// Written once; libasound reads it at the first open.
    private static let configuration: Void = {
        let directory = NSTemporaryDirectory() + "porchlight-alsa-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = """
            pcm.porch_out {
                @args [ FILE ]
                @args.FILE { type string }
                type file
                slave.pcm { type null }
                file $FILE
                format "raw"
            }
            pcm.porch_in {
                @args [ FILE ]
                @args.FILE { type string }
                type file
                slave.pcm { type null }
                file "/dev/null"
                infile $FILE
                format "raw"
            }

            """
        try? config.write(toFile: directory + "/asoundrc", atomically: true, encoding: .utf8)
        setenv("ALSA_CONFIG_PATH", directory + "/asoundrc", 1)
        setenv("HOME", directory, 1)
    }()

    public init(capture input: [Int16] = []) throws {
        Self.configuration
        directory = NSTemporaryDirectory() + "porchlight-alsa-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let bytes = input.withUnsafeBufferPointer { Data(buffer: $0) }
        try bytes.write(to: URL(fileURLWithPath: directory + "/in.raw"))
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    public var playbackDevice: String { "porch_out:FILE=\(directory)/out.raw" }
    public var captureDevice: String { "porch_in:FILE=\(directory)/in.raw" }

    /// What has been played so far.
    public var played: [Int16] {
        guard let data = FileManager.default.contents(atPath: directory + "/out.raw") else { return [] }
        return data.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
    }
}

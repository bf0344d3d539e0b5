import DoorbellCore
import Foundation

/// File-backed ALSA devices for one test: `door_out` plays into `out.raw`, `door_in` captures
/// from `in.raw` (raw S16_LE, 16 kHz mono), both over the null device, defined in an asoundrc
/// that `ALSA_CONFIG_PATH` and `HOME` point at, so no system or user ALSA config is involved.
final class ALSAFiles {
    let directory: String

    init(capture input: [Int16] = []) throws {
        directory = NSTemporaryDirectory() + "porchlight-alsa-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = """
            pcm.door_out { type file; slave.pcm { type null }; file "\(directory)/out.raw"; format "raw" }
            pcm.door_in { type file; slave.pcm { type null }; file "/dev/null"; infile "\(directory)/in.raw"; format "raw" }

            """
        try config.write(toFile: directory + "/asoundrc", atomically: true, encoding: .utf8)
        let bytes = input.withUnsafeBufferPointer { Data(buffer: $0) }
        try bytes.write(to: URL(fileURLWithPath: directory + "/in.raw"))
        setenv("ALSA_CONFIG_PATH", directory + "/asoundrc", 1)
        setenv("HOME", directory, 1)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// What has been played so far.
    var played: [Int16] {
        guard let data = FileManager.default.contents(atPath: directory + "/out.raw") else { return [] }
        return data.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
    }
}

/// Polls `condition` every 10 ms for up to `limit`.
func eventually(within limit: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

import DoorbellCore
import Foundation
import Uplink

/// Bytes this process has written: `wchar` (write calls) and `write_bytes` (sent to the block
/// layer), from /proc/self/io.
func processWrites() -> (calls: Int, storage: Int)? {
    guard let text = try? String(contentsOfFile: "/proc/self/io", encoding: .utf8) else { return nil }
    var values: [String: Int] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: ":")
        if parts.count == 2 { values[String(parts[0])] = Int(parts[1].trimmingCharacters(in: .whitespaces)) }
    }
    guard let calls = values["wchar"], let storage = values["write_bytes"] else { return nil }
    return (calls, storage)
}

/// What one ring costs the SD card: the outbox's bytes written per ring event, each committed on
/// its own (as rings are: seconds apart), WAL checkpoints included.
func outboxWrites(rings: Int) throws {
    let directory = NSTemporaryDirectory() + "porchlight-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let outbox = try Outbox(path: directory + "/outbox.sqlite")
    try outbox.append(ringEvent(0))  // schema and first pages
    guard let before = processWrites() else { return }
    for index in 1...rings { try outbox.append(ringEvent(index)) }
    guard let after = processWrites() else { return }
    emit("outbox_write_calls_per_ring", Double(after.calls - before.calls) / Double(rings), "bytes")
    emit("outbox_storage_writes_per_ring", Double(after.storage - before.storage) / Double(rings), "bytes")
}

func ringEvent(_ index: Int) -> DoorbellEvent {
    let wall = WallTime(epochMilliseconds: 1_764_000_000_000 + Int64(index) * 15_000, minuteOfDay: 600)
    return .ring(
        Ring(
            id: EventID.make(epochMilliseconds: wall.epochMilliseconds), monotonic: .seconds(index * 15), wall: wall,
            pressCount: 1, chimeSilenced: false))
}

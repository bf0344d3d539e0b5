import DoorbellCore
import DoorbellTestKit
import Foundation
import Synchronization
import Testing

@testable import Media

@Suite("The doorbell's media store: retention", .timeLimit(.minutes(10)))
struct MediaStoreRetentionTests {
    @Test("media the sync module never took is deleted after the retention and reported as expired")
    func expired() throws {
        let directory = try TemporaryDirectory()
        let reported = Mutex<[(EventID, MediaStore.Eviction)]>([])
        let store = try MediaStore(
            directory: directory.path, maxBytes: 1 << 30, maxAge: .seconds(30 * 86_400),
            evicted: { item, why in reported.withLock { $0.append((item.eventID, why)) } })
        let now: Int64 = 1_764_000_000_000
        // Written out, since `make` never goes back in time within a process.
        func id(_ millis: Int64, _ tail: String) -> EventID {
            let hex = String(repeating: "0", count: 12 - String(millis, radix: 16).count) + String(millis, radix: 16)
            return EventID(rawValue: "\(hex.prefix(8))-\(hex.suffix(4))-7000-8000-00000000000\(tail)")
        }
        let old = id(now - 31 * 86_400_000, "1")
        let recent = id(now - 29 * 86_400_000, "2")
        for id in [old, recent] {
            #expect(FileManager.default.createFile(atPath: store.clipPath(id), contents: Data([1, 2, 3])))
        }
        try store.trim(now: now)
        #expect(try store.waiting().map(\.eventID) == [recent])
        #expect(reported.withLock { $0.map(\.0) } == [old])
        #expect(reported.withLock { $0.map(\.1) } == [.expired])
        #expect(old.epochMilliseconds == now - 31 * 86_400_000)
    }
}

import AsyncHTTPClient
import DoorbellCore
import DoorbellTestKit
import Foundation
import Logging
import SyncProtocol
import Testing

@testable import Uplink

@Suite("Media uploader, without a peer", .timeLimit(.minutes(10)))
struct MediaUploaderTests {
    struct EmptyQueue: MediaQueue {
        func waiting() throws -> [MediaItem] { [] }
        func uploaded(_ item: MediaItem) throws {}
        func reject(_ item: MediaItem) throws {}
    }

    @Test(
        "an item the sync module holds whole but has not finished backs off, instead of being announced again at once")
    func wholeButUnfinishedBacksOff() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/clip.mkv"
        try Data(repeating: 7, count: 100).write(to: URL(fileURLWithPath: path))
        let item = MediaItem(eventID: EventID(rawValue: "e1"), kind: .clip, path: path, size: 100)
        // Nothing listens at this address: the step must decide without asking the sync module.
        let uploader = MediaUploader(
            queue: EmptyQueue(),
            pairing: PairingRecord(url: "https://127.0.0.1:9", certificatePEM: "", fingerprint: "", deviceID: "d"),
            identity: try DeviceIdentity(), logger: Logger(label: "test"), chunkSize: 64)
        var current: MediaUploader.Upload? = .init(item: item, sha256: "", offset: 100)
        let outcome = await uploader.step(HTTPClient.shared, &current)
        guard case .failed(let message, .degraded(let reason)) = outcome else {
            Issue.record("expected a failure that backs off, got \(outcome)")
            return
        }
        #expect(message == "the sync module holds 100 bytes of e1-clip but has not finished it")
        #expect(reason == "media upload waiting for the sync module")
        #expect(current == nil, "the next step announces it again, after the backoff")
    }
}

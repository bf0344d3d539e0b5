import Testing

@testable import WebUI

@Suite("Media ranges and share openings at the web page", .timeLimit(.minutes(10)))
struct WebMediaTests {
    @Test("one byte range is honoured, clamped to the file; several, or another unit, get the whole file")
    func byteRanges() {
        #expect(ByteRange("bytes=0-99", size: 1000) == .part(0...99))
        #expect(ByteRange("bytes=900-", size: 1000) == .part(900...999))
        #expect(ByteRange("bytes=900-5000", size: 1000) == .part(900...999))
        #expect(ByteRange("bytes=-100", size: 1000) == .part(900...999))
        #expect(ByteRange("bytes=-5000", size: 1000) == .part(0...999))
        #expect(ByteRange("bytes=1000-", size: 1000) == .unsatisfiable)
        #expect(ByteRange("bytes=-0", size: 1000) == .unsatisfiable)
        #expect(ByteRange("bytes=0-1,5-9", size: 1000) == .whole)
        #expect(ByteRange("items=0-1", size: 1000) == .whole)
        #expect(ByteRange("bytes=5-1", size: 1000) == .whole)
        #expect(ByteRange("bytes=99999999999999999999-", size: 1000) == .whole)
        #expect(ByteRange("bytes=-9223372036854775807", size: 1000) == .part(0...999))
    }

    @Test("a share opened again and again: one entry per ten minutes, with the count; past 30 a minute, refused")
    func shareOpenings() {
        let openings = ShareOpenings()
        #expect(openings.open("s", now: 0) == .log(1))
        for second in 1..<30 { #expect(openings.open("s", now: Int64(second) * 1000) == .coalesced) }
        #expect(openings.open("s", now: 30_000) == .refused(seconds: 30))
        #expect(openings.open("other", now: 30_000) == .log(1))
        // Ten minutes on: one entry for the 29 coalesced openings and this one.
        #expect(openings.open("s", now: 600_000) == .log(30))
    }
}

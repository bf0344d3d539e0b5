import Config
import DoorbellCore
import DoorbellTestKit
import Foundation
import Logging
import Testing

@testable import Audio

/// The door's audio logic without a device: the test plays the device thread's part.
@Suite(.timeLimit(.minutes(10))) struct DoorAudioTests {
    static func audio(
        clock: any DoorbellClock = SystemClock(), _ change: (inout DoorAudioSettings) -> Void = { _ in }
    ) -> DoorAudio {
        var settings = DoorAudioSettings()
        settings.volume = 100
        change(&settings)
        return DoorAudio(settings: settings, logger: Logger(label: "test"), clock: clock)
    }

    static let silence = [Int16](repeating: 0, count: AudioFormat.frameSamples)

    @Test func aChimeIsNotRestartedWhilePlayingAndIsScaledByVolume() {
        let audio = Self.audio {
            $0.chime = Sound(samples: [Int16](repeating: 1000, count: 640))
            $0.volume = 50
        }
        #expect(audio.demand == .none)
        audio.strike()
        audio.strike()
        #expect(audio.demand == .playback)
        #expect(audio.nextPlayback().allSatisfy { $0 == 500 })
        #expect(audio.nextPlayback().allSatisfy { $0 == 500 })
        #expect(audio.demand == .none)
    }

    /// (A session whose uplink nobody holds ends at once, so the test keeps each one.)
    @Test func oneTalkSessionAtATime() throws {
        let audio = Self.audio()
        let first = try audio.startTalk(id: "a", by: "alice")
        #expect(audio.demand == .duplex)
        #expect(throws: AudioRefusal.self) { try audio.startTalk(id: "b", by: "bob") }
        do {
            _ = try audio.startTalk(id: "b", by: "bob")
        } catch {
            #expect(error.reason.contains("another talk session is running"))
            #expect(error.reason.contains("alice"))
        }
        audio.stopTalk(id: "a")
        #expect(audio.demand == .none)
        let second = try audio.startTalk(id: "b", by: "bob")
        #expect(audio.demand == .duplex)
        withExtendedLifetime((first, second)) {}
    }

    @Test func aSessionEndsAtItsTimeLimit() async throws {
        let clock = ManualClock()
        let audio = Self.audio(clock: clock) { $0.talkMax = .milliseconds(50) }
        let uplink = try audio.startTalk(id: "a", by: "alice")
        clock.advance(by: .milliseconds(50))
        _ = audio.nextPlayback()
        #expect(audio.demand == .duplex, "ended before its limit")
        clock.advance(by: .milliseconds(1))
        _ = audio.nextPlayback()
        #expect(audio.demand == .none)
        var frames = 0
        for await _ in uplink { frames += 1 }
        #expect(frames == 0)
    }

    /// Half duplex: while the owner's voice plays, the microphone sends silence, and for 200 ms
    /// after; then it opens again.
    @Test func halfDuplexMutesTheMicrophoneWhileTheOwnerSpeaks() async throws {
        let audio = Self.audio {
            $0.halfDuplex = true
            $0.noiseSuppressionDB = 0
        }
        let uplink = try audio.startTalk(id: "a", by: "alice")
        var iterator = uplink.makeAsyncIterator()
        let visitor = [Int16](repeating: 3000, count: AudioFormat.frameSamples)
        audio.captured(visitor, reference: Self.silence)
        #expect(await iterator.next() == visitor)
        audio.receiveTalk(id: "a", sequence: 0, samples: [Int16](repeating: 8000, count: AudioFormat.frameSamples))
        let played = audio.nextPlayback()
        #expect(played.allSatisfy { $0 == 8000 })
        audio.captured(visitor, reference: played)
        #expect(await iterator.next() == Self.silence)
        for _ in 0..<10 {
            _ = audio.nextPlayback()
            audio.captured(visitor, reference: Self.silence)
            _ = await iterator.next()
        }
        _ = audio.nextPlayback()
        audio.captured(visitor, reference: Self.silence)
        #expect(await iterator.next() == visitor)
    }

    @Test func quickRepliesByNameOnly() throws {
        let audio = Self.audio { $0.replies = [("Leave it", Sound(samples: [Int16](repeating: 7, count: 320)))] }
        #expect(audio.quickReplies == ["Leave it"])
        #expect(throws: AudioRefusal("there is no quick reply named \"Go away\"")) {
            try audio.playQuickReply("Go away")
        }
        try audio.playQuickReply("Leave it")
        #expect(audio.nextPlayback().allSatisfy { $0 == 7 })
        #expect(audio.demand == .none)
    }

    /// A failed device drops queued sounds (a chime played a minute late is worse than none) and
    /// ends the talk session.
    @Test func aFailedDeviceDropsSoundsAndEndsTalk() async throws {
        let audio = Self.audio { $0.chime = .builtinChime }
        audio.strike()
        let uplink = try audio.startTalk(id: "a", by: "alice")
        audio.deviceFailed("gone")
        #expect(audio.demand == .none)
        for await _ in uplink {}
    }

    @Test func badSoundFilesAreConfigErrorsWithTheirKey() throws {
        var config = Config()
        config.chime.sound = .file("/nonexistent/chime.wav")
        let problems = DoorAudioSettings.problems(in: config, file: "/etc/porchlight/porchlight.toml")
        #expect(problems.count == 1)
        #expect(problems.first?.keyPath == "chime.sound")
        #expect(problems.first?.message.contains("/nonexistent/chime.wav cannot be read") == true)
        config.chime.sound = .builtin
        config.audio.quickReplies = [QuickReply(name: "x", file: "/nonexistent/x.wav")]
        #expect(DoorAudioSettings.problems(in: config, file: "f").first?.keyPath == "audio.quick_replies[0].file")
        config.audio.enabled = false
        #expect(DoorAudioSettings.problems(in: config, file: "f").isEmpty)
    }
}

@Suite("The hardware check's tone and meter", .timeLimit(.minutes(10)))
struct ToneCheckTests {
    @Test("plays the tone for its time, then silence, and measures the microphone's level")
    func toneAndLevel() {
        let check = ToneCheck(frequency: 1000, volume: 50, tone: .milliseconds(100))
        let frames = (0..<8).map { _ in check.nextPlayback() }
        #expect(frames.prefix(5).allSatisfy { ($0.map { abs(Int($0)) }.max() ?? 0) > 15_000 })
        #expect(frames.suffix(3).allSatisfy { $0.allSatisfy { $0 == 0 } })
        check.captured(frames[0], reference: [])
        check.captured(frames[7], reference: [])
        let levels = check.measured.levels
        // A sine at half of full scale is −6 dB peak, −9 dB RMS.
        #expect(levels.count == 2 && abs(levels[0] - -9.03) < 0.2 && levels[1] == -96)
        #expect(ToneCheck.meter(0) == String(repeating: "#", count: 40))
        #expect(ToneCheck.meter(-96) == String(repeating: ".", count: 40))
    }
}

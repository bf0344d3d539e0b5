import Audio
import DoorbellCore
import DoorbellTestKit
import Foundation
import LinuxAudio
import Logging
import Privacy
import ServiceLifecycle
import SyncModule
import SyncStorage
import SyncProtocol
import Testing

@testable import Uplink

/// Talk from end to end except the browser: the door's real audio path (libasound on file-backed
/// PCMs, the device thread, the talk session) behind the real control channel, and the sync
/// module's hub on loopback as the owner's side.
@Suite("Talk over the control channel", .serialized, .timeLimit(.minutes(10)))
struct TalkTests {
    @Test("the door's microphone reaches the hub intact; the owner's frames reach the speaker; one talker at a time")
    func talkBothWays() async throws {
        let rig = try UplinkEndToEndTests.Rig()
        // A known signal at the microphone: 2 s, distinct in every sample.
        let signal = (0..<32_000).map { Int16(truncatingIfNeeded: ($0 * 7919) % 24_000 - 12_000) }
        let files = try ALSAFiles(capture: signal)
        var settings = DoorAudioSettings()
        settings.halfDuplex = true
        settings.noiseSuppressionDB = 0
        settings.replies = [("Leave it at the door", Sound(samples: [Int16](repeating: 300, count: 640)))]
        settings.volume = 100
        let audio = DoorAudio(settings: settings, logger: rig.logger)
        let device = ALSAAudioDevice(
            settings: .init(playbackDevice: files.playbackDevice, captureDevice: files.captureDevice), processor: audio,
            health: rig.registry.register("audio", deadline: .seconds(10)), logger: rig.logger,
            faults: FaultLimiter(interval: .seconds(60)))
        audio.attach(device)
        let (keyring, keys) = try ControlChannelTests.owner(of: rig)
        let talkKey = OwnerKey()
        let channel = rig.controlChannel(
            RemoteCommands(
                tap: nil, audio: audio, ownerKeys: keys, maxLive: .seconds(10), logger: rig.logger,
                device: rig.device.deviceID, talkKey: talkKey
            ) {})
        let daemonSide = ServiceGroup(services: [device, channel], logger: rig.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await daemonSide.run() }
            let (stop, _, hub) = try rig.syncModuleWithHub()
            let doorbell = rig.device.deviceID
            #expect(
                await eventually(timeout: .seconds(30)) {
                    hub.connected.contains(doorbell) && keys.recipients()?.count == 2
                })

            let alice = try keyring.talk(device: doorbell, talkKey: talkKey.publicKey.x963)
            let talk = try await Self.begin(alice, hub: hub, device: doorbell).get()
            var fromDoor = try alice.fromDoor(talk.header)
            let bob = try keyring.talk(device: doorbell, talkKey: talkKey.publicKey.x963)
            let second = await Self.begin(bob, hub: hub, device: doorbell)
            #expect(throws: TalkRefused.self) { try second.get() }

            // The owner speaks: 50 frames, each a constant that names it, quiet enough that half
            // duplex does not mute the microphone meanwhile (DoorAudioTests cover that).
            let owner = Task {
                for sequence in 0..<UInt32(50) {
                    let frame = alice.toDoor.seal(
                        Self.pcm([Int16](repeating: Int16(100 + sequence), count: 320)), sequence: sequence)
                    try await hub.sendTalk(Data(frame), device: doorbell, session: alice.session)
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            var heard: [Int16] = []
            var sequences: [UInt32] = []
            for await bytes in talk.door {
                // Nothing on the way is the audio itself: each frame opens only with the session's key.
                #expect(bytes.count == TalkSeal.frameSize)
                let (sequence, pcm) = try fromDoor.open(bytes)
                sequences.append(sequence)
                heard += Self.samples(pcm)
                if heard.count >= signal.count { break }
            }
            try await owner.value
            #expect(sequences == Array(0..<UInt32(sequences.count)))
            let same = heard == signal
            #expect(same, "the door's audio changed on the way")

            hub.endTalk(device: doorbell, session: alice.session)
            #expect(await eventually(timeout: .seconds(30)) { audio.demand == .none })
            // The device is closed when nothing plays, which flushes the file.
            try await Task.sleep(for: .milliseconds(200))
            let played = files.played
            let frames = stride(from: 0, to: played.count - 319, by: 320).map { played[$0] }
            let ownerFrames = frames.filter { (100..<150).contains($0) }
            let inOrder = ownerFrames == ownerFrames.sorted()
            #expect(inOrder, "the owner's frames played out of order")
            #expect(ownerFrames.count >= 45, "owner frames played: \(ownerFrames.count)")

            // After the first session, the next owner may talk; a quick reply plays at the door.
            let again = try keyring.talk(device: doorbell, talkKey: talkKey.publicKey.x963)
            _ = try await Self.begin(again, hub: hub, device: doorbell).get()
            hub.endTalk(device: doorbell, session: again.session)
            let reply = await hub.send(
                keyring.command(.quickReply, id: "r1", device: doorbell, reply: "Leave it at the door"), to: doorbell)
            #expect(reply.ok == true)
            let unknown = await hub.send(
                keyring.command(.quickReply, id: "r2", device: doorbell, reply: "Go away"), to: doorbell)
            #expect(unknown.ok == false && unknown.reason?.contains("no quick reply named") == true)
            #expect(await eventually(timeout: .seconds(30)) { files.played.filter { $0 == 300 }.count >= 640 })

            await stop()
            await daemonSide.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Starts `talk` at the hub as the page does, with its signed talk-start.
    static func begin(_ talk: OwnerTalk, hub: ControlHub, device: String) async -> Result<
        (header: Data, door: AsyncStream<Data>), TalkRefused
    > {
        await hub.beginTalk(
            device: device, session: talk.session, signed: talk.start.signed ?? "",
            signature: talk.start.signature ?? "")
    }

    static func pcm(_ samples: [Int16]) -> [UInt8] {
        samples.flatMap { [UInt8(UInt16(bitPattern: $0) & 0xFF), UInt8(UInt16(bitPattern: $0) >> 8)] }
    }

    static func samples(_ pcm: [UInt8]) -> [Int16] {
        stride(from: 0, to: pcm.count - 1, by: 2).map { Int16(bitPattern: UInt16(pcm[$0]) | UInt16(pcm[$0 + 1]) << 8) }
    }
}

import Audio
import DoorbellCore
import DoorbellTestKit
import Foundation
import LinuxAudio
import Privacy
import SyncProtocol
import Uplink
import Logging
import Synchronization

/// The echo canceller on the simulated doorbell echo path (the same scenario the tests use):
/// ERLE with the far end alone after 4 s of convergence, for the adaptive filter alone and with
/// the preprocessor's residual echo and noise suppression; how much of the visitor's voice
/// survives double talk; and the cost per 20 ms frame.
func echoBenchmarks() {
    let scenario = EchoScenario()
    let frame = AudioFormat.frameSamples
    let converged = 4 * 16_000..<scenario.doubleTalk.lowerBound
    for preprocessing in [false, true] {
        let canceller = EchoCanceller(tail: .milliseconds(200), noiseSuppressionDB: -25, preprocessing: preprocessing)
        var output: [Int16] = []
        var times: [Duration] = []
        for start in stride(from: 0, to: scenario.microphone.count - frame + 1, by: frame) {
            let began = ContinuousClock.now
            output += canceller.process(
                captured: Array(scenario.microphone[start..<start + frame]),
                played: Array(scenario.farEnd[start..<start + frame]))
            times.append(.now - began)
        }
        let name = preprocessing ? "aec" : "aec_filter_only"
        emit("\(name)_erle_far_end_only", EchoScenario.decibels(scenario.microphone, over: output, in: converged), "dB")
        if preprocessing {
            // The preprocessor delays its output by one frame.
            let delayed = Array(output.dropFirst(frame)) + [Int16](repeating: 0, count: frame)
            emit(
                "aec_near_end_level_in_double_talk",
                EchoScenario.decibels(delayed, over: scenario.nearEnd, in: scenario.doubleTalk), "dB")
            report("aec_cost_per_20ms_frame", times)
        }
    }
}

/// The delay the daemon adds to talk, in each direction, through the real device thread and the
/// real libasound on file-backed PCMs that are paced to real time (capture cannot be read before
/// it could have been recorded; playback is played out at 16 kHz from the first write).
///
/// - capture → socket: tone bursts at known sample positions in the microphone file; from the
///   moment a burst's first sample was recorded to the moment the frame holding it (echo-cancelled
///   and noise-suppressed) reaches the uplink, where the control channel sends it.
/// - socket → speaker: marked frames of the owner's voice handed in every 20 ms, as the control
///   channel does; from hand-in to the moment the speaker plays the frame (its write time plus
///   what is queued ahead of it in the device).
///
/// With `sealed`, each frame is also sealed and opened on its way, as the doorbell and the page do
/// it (`TalkCipher`): the `_sealed` figures against the plain ones are what sealing adds. (The
/// second run in a process plays about 2 ms later whichever it is, from the file-backed device's
/// phase; `talk_frame_seal` and `_open` give the sealing's own cost.)
func talkLatency(seconds: Int, sealed: Bool = false) async throws {
    var logger = Logger(label: "bench")
    logger.logLevel = .critical
    let rate = AudioFormat.sampleRate
    var microphone = [Int16](repeating: 0, count: (seconds + 2) * rate)
    var bursts: [Int] = []
    for index in 1..<seconds * 2 {
        let start = index * rate / 2 + (index * 37) % AudioFormat.frameSamples
        bursts.append(start)
        for sample in 0..<320 { microphone[start + sample] = Int16(12_000 * sin(Double(sample) * 0.39)) }
    }
    let files = try ALSAFiles(capture: microphone)

    struct Stamps {
        var firstRead: ContinuousClock.Instant?
        var firstWrite: ContinuousClock.Instant?
        var framesWritten = 0
        /// Marker value → when the speaker plays it.
        var playout: [Int16: ContinuousClock.Instant] = [:]
    }
    let stamps = Mutex(Stamps())
    var calls = ALSACalls.real
    let realRead = calls.readi
    let realWrite = calls.writei
    calls.readi = { pcm, buffer, frames in
        stamps.withLock { if $0.firstRead == nil { $0.firstRead = .now } }
        return realRead(pcm, buffer, frames)
    }
    calls.writei = { pcm, buffer, frames in
        let first = buffer.load(as: Int16.self)
        stamps.withLock { state in
            let now = ContinuousClock.now
            if state.firstWrite == nil { state.firstWrite = now }
            // The device plays continuously from the first write: this frame plays after all before it.
            let playout = max(now, state.firstWrite! + AudioFormat.frameDuration * state.framesWritten)
            if first >= 10_000 { state.playout[first] = playout }
            state.framesWritten += frames / AudioFormat.frameSamples
        }
        return realWrite(pcm, buffer, frames)
    }

    var settings = DoorAudioSettings()
    settings.volume = 100
    let audio = DoorAudio(settings: settings, logger: logger)
    let device = ALSAAudioDevice(
        settings: .init(playbackDevice: files.playbackDevice, captureDevice: files.captureDevice), processor: audio,
        health: HealthRegistry().register("audio", deadline: .seconds(60)), logger: logger,
        faults: FaultLimiter(interval: .seconds(60)), calls: calls)
    audio.attach(device)
    let running = Task { try await device.run() }
    let uplink = try audio.startTalk(id: "bench", by: "bench")
    let session = UUID().uuidString
    let talkKey = OwnerKey()
    let (wrapped, ownerSeals) = try TalkSeal.ownerSide(session: session, talkKey: talkKey.publicKey.x963)
    let doorOpens = TalkCipher(key: try TalkSeal.unwrap(wrapped, session: session, with: talkKey), direction: .toDoor)
    let owners = [OwnerKey()]
    let (header, doorKey) = try TalkSeal.doorHeader(
        session: session, for: owners.map(\.publicKey), answering: doorOpens)
    let doorSeals = TalkCipher(key: doorKey, direction: .toOwner)
    var ownerOpens = TalkCipher(
        key: try TalkSeal.openDoorHeader(header, session: session, with: owners[0], voice: ownerSeals),
        direction: .toOwner)

    let owner = Task {
        var doorOpens = doorOpens
        var handedIn: [Int16: ContinuousClock.Instant] = [:]
        let start = ContinuousClock.now
        for sequence in 0..<UInt32(seconds * 50) {
            try await Task.sleep(until: start + AudioFormat.frameDuration * Int(sequence))
            let marked = sequence % 25 == 10
            let value = marked ? Int16(10_000 + sequence / 25) : 100
            if marked { handedIn[value] = .now }
            var samples = [Int16](repeating: value, count: AudioFormat.frameSamples)
            if sealed {
                samples = pcmSamples(try doorOpens.open(ownerSeals.seal(pcmBytes(samples), sequence: sequence)).pcm)
            }
            audio.receiveTalk(id: "bench", sequence: sequence, samples: samples)
        }
        return handedIn
    }

    var uplinkLatency: [Duration] = []
    var frameIndex = 0
    var nextBurst = 0
    for await captured in uplink {
        var frame = captured
        if sealed {
            frame = pcmSamples(
                try ownerOpens.open(doorSeals.seal(pcmBytes(captured), sequence: UInt32(frameIndex))).pcm)
        }
        let arrived = ContinuousClock.now
        defer { frameIndex += 1 }
        guard nextBurst < bursts.count, let firstRead = stamps.withLock({ $0.firstRead }) else { continue }
        // Frame n of the output covers samples from n·320 on; a burst is found when it appears.
        guard frame.contains(where: { abs(Int($0)) > 3000 }), (frameIndex + 1) * 320 > bursts[nextBurst] else {
            continue
        }
        // Sample k was recorded at (first read − one period) + k / 16 kHz.
        let recorded = firstRead - AudioFormat.frameDuration + .microseconds(bursts[nextBurst] * 1_000_000 / rate)
        uplinkLatency.append(arrived - recorded)
        nextBurst += 1
        if nextBurst == bursts.count { break }
    }
    let handedIn = try await owner.value
    try await Task.sleep(for: .milliseconds(300))
    audio.stopTalk(id: "bench")
    running.cancel()
    _ = try? await running.value
    let playout = stamps.withLock { $0.playout }
    let downlinkLatency = handedIn.compactMap { value, at in playout[value].map { $0 - at } }
    let suffix = sealed ? "_sealed" : ""
    report("talk_capture_to_socket\(suffix)", uplinkLatency)
    report("talk_socket_to_speaker\(suffix)", downlinkLatency)
    emit("talk_bursts_found\(suffix)", Double(uplinkLatency.count) / Double(bursts.count) * 100, "%")
    emit("talk_marked_frames_played\(suffix)", Double(downlinkLatency.count) / Double(handedIn.count) * 100, "%")
}

/// What sealing costs the doorbell per item: a 30 KB live-view frame (each frame is its own item,
/// so one HPKE encapsulation per owner key per frame) for one and for three owner keys.
func pcmBytes(_ samples: [Int16]) -> [UInt8] {
    samples.flatMap { [UInt8(UInt16(bitPattern: $0) & 0xFF), UInt8(UInt16(bitPattern: $0) >> 8)] }
}

func pcmSamples(_ pcm: [UInt8]) -> [Int16] {
    stride(from: 0, to: pcm.count - 1, by: 2).map { Int16(bitPattern: UInt16(pcm[$0]) | UInt16(pcm[$0 + 1]) << 8) }
}

/// One talk frame sealed and opened, each way, and a session's setup at both ends; and the
/// doorbell's check of an owner-signed command (signature, freshness, nonce).
func talkAndCommandBenchmarks() throws {
    let talkKey = OwnerKey()
    let owners = [OwnerKey(), OwnerKey()]
    var setup: [Duration] = []
    var seal: [Duration] = []
    var open: [Duration] = []
    let pcm = [UInt8](repeating: 0x33, count: TalkSeal.pcmSize)
    for _ in 0..<200 {
        let began = ContinuousClock.now
        let session = UUID().uuidString
        let (wrapped, voice) = try TalkSeal.ownerSide(session: session, talkKey: talkKey.publicKey.x963)
        let opened = TalkCipher(key: try TalkSeal.unwrap(wrapped, session: session, with: talkKey), direction: .toDoor)
        let (header, key) = try TalkSeal.doorHeader(session: session, for: owners.map(\.publicKey), answering: opened)
        _ = try TalkSeal.openDoorHeader(header, session: session, with: owners[0], voice: voice)
        setup.append(.now - began)
        let sealer = TalkCipher(key: key, direction: .toOwner)
        var opener = sealer
        for sequence in 0..<UInt32(50) {
            let sealBegan = ContinuousClock.now
            let frame = sealer.seal(pcm, sequence: sequence)
            let openBegan = ContinuousClock.now
            _ = try opener.open(frame)
            open.append(.now - openBegan)
            seal.append(openBegan - sealBegan)
        }
    }
    report("talk_session_setup_both_ends", setup)
    report("talk_frame_seal", seal)
    report("talk_frame_open", open)

    let owner = OwnerKey()
    let keys = [OwnerKey().publicKey, owner.publicKey, OwnerKey().publicKey]
    let gate = CommandGate(device: "bench")
    let now = Int64(Date().timeIntervalSince1970 * 1000)
    let commands = try (0..<2000).map { index -> ControlCommand in
        let command = OwnerCommand(
            device: "bench", name: "live-start", at: now, nonce: "bench-nonce-\(100_000 + index)",
            key: owner.publicKey.id, maxSeconds: 60)
        let (text, signature) = try command.signed(by: owner)
        return ControlCommand(.liveStart, id: "\(index)", signed: text, signature: signature)
    }
    var verify: [Duration] = []
    for command in commands {
        let began = ContinuousClock.now
        _ = try gate.check(command, keys: keys)
        verify.append(.now - began)
    }
    report("owner_command_verify", verify)
}

func sealingBenchmarks() throws {
    let frame = [UInt8](repeating: 0x5A, count: 30_000)
    for count in [1, 3] {
        let keys = (0..<count).map { _ in OwnerKey().publicKey }
        var times: [Duration] = []
        for index in 0..<300 {
            let began = ContinuousClock.now
            _ = try MediaSealer.seal(frame, media: "live-\(index)", kind: "live", for: keys)
            times.append(.now - began)
        }
        report("seal_30kb_frame_\(count)_keys", times)
    }
    // A clip second at 720p: 15 MJPEG frames of 110 KB (a 1280×720 JPEG at quality 80 is 90–130
    // KB), sealed as the clip writer does it (one item, 64 KiB chunks, a flush per cluster), for
    // one owner key plus the recovery key. Sealing cost is linear in bytes, so other sizes scale.
    let keys = [OwnerKey().publicKey, OwnerKey().publicKey]
    let second = [UInt8](repeating: 0x5A, count: 110_000)
    var times: [Duration] = []
    var sealedBytes = 0
    let seconds = 60
    for run in 0..<5 {
        var sealer = try MediaSealer(media: "clip-\(run)", kind: "clip", recipients: keys)
        var out = sealer.header.count
        for _ in 0..<seconds {
            let secondBegan = ContinuousClock.now
            for _ in 0..<15 { out += sealer.seal(second).count }
            out += sealer.flush().count
            times.append(.now - secondBegan)
        }
        out += sealer.finish().count
        sealedBytes = out
    }
    report("seal_720p_clip_second_2_keys", times)
    let plain = 15 * 110_000 * seconds
    emit("seal_720p_clip_overhead", Double(sealedBytes - plain) / Double(plain) * 100, "%")
    emit("seal_720p_clip_overhead_bytes_per_second", Double(sealedBytes - plain) / Double(seconds), "B")
}

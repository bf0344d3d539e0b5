// Over 400 lines on purpose: every command the sync module can relay, with the owner-signature
// gate, the arguments taken from the signed text and each refusal, in one dispatcher.

import DoorbellCore
import Foundation
import Logging
import Privacy
import Synchronization
import SyncProtocol

/// What the doorbell does for each command: live view and snapshots from the frame tap (frames
/// already privacy-masked), talk sessions and quick replies through the door's audio, and a
/// config reload. One live stream at most; a second `live-start` extends it, since the sync
/// module fans it out to every viewer. One talk session at most, which the audio enforces.
///
/// Whatever can see or hear runs only on a command the owner signed (`CommandGate`); every other
/// such command is refused, is an access-log entry (one per 10 s at most, with a count), and shows
/// in STATUS for 10 minutes. Stopping and reloading need no signature: they open nothing.
public final class RemoteCommands: Sendable {
    let tap: FrameTap?
    let audio: (any DoorAudioControl)?
    let ownerKeys: OwnerKeysFile?
    let reload: @Sendable () -> Void
    let maxLive: Duration
    let logger: Logger
    let access: any AccessRecording
    let gate: CommandGate?
    /// The private half of the key the owner's voice is sealed for (its public half is in STATUS
    /// reports, signed by the device key).
    let talkKey: OwnerKey?
    private let live = Mutex<(task: Task<Void, Never>, until: ContinuousClock.Instant)?>(nil)
    /// The running talk session, the task that sends the door's microphone up, and the cipher
    /// that opens the owner's frames.
    private let talk = Mutex<(session: String, task: Task<Void, Never>, fromOwner: TalkCipher)?>(nil)
    /// The owner's frames that came down the channel: all, those that found no session, and
    /// those refused (not sealed for the session, replayed or reordered).
    private let ownerFrames = Mutex((arrived: 0, withoutSession: 0, refused: 0))
    /// Commands refused for want of the owner's signature: the count, the last reason and when,
    /// and how many went unlogged since the last access entry.
    private let refusals = Mutex(
        (count: 0, reason: "", at: ContinuousClock.Instant?.none, unlogged: 0, logged: ContinuousClock.Instant?.none))

    /// `device`: this doorbell's id, which every signed command must name; without it (and
    /// without `talkKey`) every command that can see or hear is refused.
    public init(
        tap: FrameTap?, audio: (any DoorAudioControl)? = nil, ownerKeys: OwnerKeysFile? = nil, maxLive: Duration,
        logger: Logger, access: (any AccessRecording)? = nil, device: String? = nil, talkKey: OwnerKey? = nil,
        reload: @escaping @Sendable () -> Void
    ) {
        self.access = access ?? JournalAccess(logger: logger)
        self.tap = tap
        self.audio = audio
        self.ownerKeys = ownerKeys
        self.maxLive = maxLive
        self.logger = logger
        self.reload = reload
        self.gate = device.map { CommandGate(device: $0) }
        self.talkKey = talkKey
    }

    public var isLive: Bool { live.withLock { $0 != nil } }

    /// What STATUS says for 10 minutes after a command was refused for want of the owner's signature.
    public var refusalNotice: String? {
        refusals.withLock { state in
            guard let at = state.at, ContinuousClock.now - at < .seconds(600) else { return nil }
            return
                "refused \(state.count) command\(state.count == 1 ? "" : "s") the owner did not sign (last: \(state.reason))"
        }
    }

    func handle(_ command: ControlCommand, sender: ControlSender) async -> ControlResult {
        let name = command.name
        // Stopping and reloading open nothing and need no signature; the rest go through the gate.
        switch name {
        case .liveStop:
            stopLive()
            return .result(for: command.id, ok: true)
        case .talkStop:
            if let session = command.session {
                talk.withLock { current in if current?.session == session { current = nil } }
                audio?.stopTalk(id: session)
            }
            return .result(for: command.id, ok: true)
        case .reloadConfig:
            access.record(
                "Configuration reload asked for on the control channel.",
                AccessNote("config", actor: "sync module", detail: "reload", source: "control channel"))
            reload()
            return .result(for: command.id, ok: true)
        case .liveStart, .snapshotNow, .talkStart, .quickReply:
            break
        }
        // Nothing to see or hear without the owner's keys; not a forgery, so not counted as one.
        let keys = currentKeys()
        if let refusal = Self.unsealable(keys) { return .result(for: command.id, ok: false, reason: refusal) }
        let signed: OwnerCommand
        let actor: String
        do throws(CommandRefusal) {
            guard let gate else { throw .mismatch("a doorbell that is not paired") }
            let (checked, signer) = try gate.check(command, keys: keys ?? [])
            signed = checked
            let label = ownerKeys?.load().first { $0.id == signer.id }?.label ?? "owner"
            actor = "owner key \(signer.id.prefix(8)) (\(label.prefix(40)))"
        } catch {
            refuse(name.rawValue, error)
            return .result(for: command.id, ok: false, reason: error.description)
        }
        return await perform(name, signed, id: command.id, keys: keys ?? [], actor: actor, sender: sender)
    }

    /// Runs a command the owner signed, with the arguments it signed.
    private func perform(
        _ name: CommandName, _ command: OwnerCommand, id: String, keys: [OwnerPublicKey], actor: String,
        sender: ControlSender
    ) async -> ControlResult {
        switch name {
        case .liveStart:
            guard let tap else { return .result(for: id, ok: false, reason: "this doorbell has no camera") }
            let asked = Duration.seconds(max(1, command.maxSeconds ?? Int(maxLive / .seconds(1))))
            startLive(tap, for: min(asked, maxLive), by: actor, sender: sender)
            return .result(for: id, ok: true)
        case .snapshotNow:
            guard let tap else { return .result(for: id, ok: false, reason: "this doorbell has no camera") }
            guard let frame = await Self.nextFrame(from: tap, within: .seconds(3)) else {
                return .result(for: id, ok: false, reason: "the camera gave no frame in 3 s")
            }
            guard let sealed = Self.seal(frame.bytes, media: "now-\(command.nonce)", for: keys) else {
                return .result(for: id, ok: false, reason: "cannot seal")
            }
            do {
                try await sender.send(.snapshot, sealed)
            } catch {
                return .result(for: id, ok: false, reason: "cannot send the snapshot: \(error)")
            }
            access.record("Snapshot sent.", AccessNote("snapshot", actor: actor, source: "control channel"))
            return .result(for: id, ok: true)
        case .talkStart:
            guard let audio else { return .result(for: id, ok: false, reason: "this doorbell has no audio") }
            guard let session = command.session, OwnerCommand.isToken(session, length: 8...64) else {
                return .result(
                    for: id, ok: false, reason: "talk-start needs a session of 8 to 64 letters, digits, - or _")
            }
            guard let talkKey, let wrapped = command.talk,
                let voice = try? TalkSeal.unwrap(wrapped, session: session, with: talkKey)
            else {
                return .result(
                    for: id, ok: false,
                    reason: "the owner's talk key is missing or not sealed for this doorbell's talk key")
            }
            do {
                let header = try await startTalk(
                    audio, session: session, actor: actor, keys: keys,
                    fromOwner: TalkCipher(key: voice, direction: .toDoor), sender: sender)
                return ControlResult(id: id, ok: true, header: Data(header).base64EncodedString())
            } catch {
                return .result(for: id, ok: false, reason: error.reason)
            }
        case .quickReply:
            guard let audio else { return .result(for: id, ok: false, reason: "this doorbell has no audio") }
            do {
                try audio.playQuickReply(command.reply ?? "")
            } catch {
                return .result(for: id, ok: false, reason: error.reason)
            }
            access.record(
                "Quick reply played at the door.",
                AccessNote("quick-reply", actor: actor, detail: command.reply ?? "", source: "control channel"))
            return .result(for: id, ok: true)
        case .liveStop, .talkStop, .reloadConfig:
            // Run by `handle` before the gate; they have nothing to sign.
            return .result(for: id, ok: false, reason: "\(name.rawValue) needs no signature")
        }
    }

    /// A command that can see or hear came without a good signature: logged, and an access entry
    /// at most once per 10 s, which counts the ones in between.
    private func refuse(_ name: String, _ refusal: CommandRefusal) {
        let reason = "\(name.prefix(32)): \(refusal)"
        let now = ContinuousClock.now
        let unlogged = refusals.withLock { state -> Int? in
            state.count += 1
            state.reason = reason
            state.at = now
            if let logged = state.logged, now - logged < .seconds(10) {
                state.unlogged += 1
                return nil
            }
            defer { state.unlogged = 0 }
            state.logged = now
            return state.unlogged
        }
        guard let unlogged else { return }
        logger.warning("Refused a command the owner did not sign.", metadata: ["reason": "\(reason)"])
        access.record(
            "Command refused: not signed by the owner.",
            AccessNote(
                "command-refused", actor: "sync module",
                detail: reason + (unlogged > 0 ? "; \(unlogged) more refused before it" : ""),
                source: "control channel"))
    }

    /// Starts the session and sends the door's microphone up, frame by frame sealed with a key of
    /// its own, until it ends; an end the owner did not ask for is reported as `talk-ended`. The
    /// session counts as started once the first frame has come from the microphone. Returns the
    /// header that carries the door's key, sealed for the owner's keys.
    private func startTalk(
        _ audio: any DoorAudioControl, session: String, actor: String, keys: [OwnerPublicKey],
        fromOwner: TalkCipher, sender: ControlSender
    ) async throws(AudioRefusal) -> [UInt8] {
        guard let (header, doorKey) = try? TalkSeal.doorHeader(session: session, for: keys, answering: fromOwner) else {
            throw AudioRefusal("cannot seal the door's audio for the owner's keys")
        }
        let toOwner = TalkCipher(key: doorKey, direction: .toOwner)
        let uplink = try audio.startTalk(id: session, by: actor)
        access.record(
            "Talk session started.", AccessNote("talk", actor: actor, detail: session, source: "control channel"))
        let (first, firstArrived) = AsyncStream.makeStream(of: Bool.self)
        let began = ContinuousClock.now
        ownerFrames.withLock { $0 = (0, 0, 0) }
        let task = Task { [weak self, access, logger] in
            defer {
                if let counts = self?.ownerFrames.withLock({ $0 }) {
                    logger.info(
                        "The owner's talk frames on the control channel.",
                        metadata: [
                            "arrived": "\(counts.arrived)", "without_session": "\(counts.withoutSession)",
                            "refused": "\(counts.refused)",
                        ])
                }
                access.record(
                    "Talk session ended.",
                    AccessNote(
                        "talk-end", actor: actor,
                        detail: "\(session), \((ContinuousClock.now - began) / .seconds(1)) s",
                        source: "control channel"))
            }
            var sequence: UInt32 = 0
            var pcm = [UInt8](repeating: 0, count: TalkSeal.pcmSize)
            for await samples in uplink {
                if sequence == 0 { firstArrived.yield(true) }
                for (index, sample) in samples.prefix(TalkFrame.samples).enumerated() {
                    let bits = UInt16(bitPattern: sample)
                    pcm[2 * index] = UInt8(bits & 0xFF)
                    pcm[2 * index + 1] = UInt8(bits >> 8)
                }
                let frame = toOwner.seal(pcm, sequence: sequence)
                sequence &+= 1
                guard (try? await sender.send(.talkAudio, frame)) != nil else { break }
            }
            firstArrived.finish()
            let ended = self?.talk.withLock { current -> Bool in
                guard current?.session == session else { return false }
                current = nil
                return true
            }
            audio.stopTalk(id: session)
            if ended == true, !Task.isCancelled {
                try? await sender.send(.talkEnded(session: session, reason: "the talk session ended at the door"))
            }
        }
        talk.withLock { $0 = (session, task, fromOwner) }
        let started = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await first.first { _ in true } ?? false }
            group.addTask {
                try? await Task.sleep(for: .seconds(3))
                return false
            }
            defer { group.cancelAll() }
            return await group.next() ?? false
        }
        guard started else {
            audio.stopTalk(id: session)
            throw AudioRefusal("the door's microphone did not start (see the doorbell's journal)")
        }
        return header
    }

    /// The owner's keys this doorbell holds (each key's id computed here, not taken from the wire);
    /// nil while the owner has never had one.
    func currentKeys() -> [OwnerPublicKey]? {
        ownerKeys?.recipients()
    }

    /// `bytes` sealed as one item for `keys`; nil when there is no key to seal for: no picture
    /// leaves the doorbell unsealed.
    static func seal(_ bytes: [UInt8], media: String, for keys: [OwnerPublicKey]?) -> [UInt8]? {
        guard let keys, !keys.isEmpty else { return nil }
        return try? MediaSealer.seal(bytes, media: media, kind: "live", for: keys)
    }

    /// Why no picture can leave the doorbell just now, if none can.
    static func unsealable(_ keys: [OwnerPublicKey]?) -> String? {
        switch keys {
        case nil:
            "no recovery key is pinned on the doorbell yet (porchlightctl keys trust); no picture leaves it unsealed"
        case let keys? where keys.isEmpty: "every owner key was revoked; add one to see the camera"
        default: nil
        }
    }

    /// The sync module sent the owner's current keys: kept for sealing media, and a change is
    /// logged (with the key ids) as a key-change access entry.
    func ownerKeysChanged(_ keys: [OwnerKeyWire]) {
        guard let ownerKeys else { return }
        do {
            let outcome = try ownerKeys.save(keys)
            if outcome.changed, let holding = ownerKeys.holding {
                let offered = keys.filter { $0.label == "recovery" }.map { OwnerKeysFile.fingerprint($0.publicKey) }
                logger.notice(
                    "The owner's keys arrived, but \(holding).",
                    metadata: ["recovery": "\(offered.joined(separator: ", "))"])
            }
            for key in outcome.refused {
                logger.error(
                    "Refused an owner key the recovery key did not sign; nothing is sealed for it.",
                    metadata: ["key": "\(key.id)", "label": "\(key.label)"])
            }
            if outcome.changed {
                let kept = ownerKeys.recipients() ?? []
                access.record(
                    "Owner keys changed.",
                    AccessNote(
                        "key-change", actor: "sync module",
                        detail: "sealing for \(kept.count): \(kept.map(\.id).joined(separator: ", "))"
                            + (outcome.refused.isEmpty
                                ? "" : "; refused unsigned \(outcome.refused.map(\.id).joined(separator: ", "))"),
                        source: "control channel"))
            }
        } catch {
            logger.error("Cannot store the owner's keys.", metadata: [LogKey.error: "\(error)"])
        }
    }

    /// A sealed frame of the owner's voice for the running session; one that does not open with
    /// the session's key, or comes out of order, is dropped and counted.
    func receiveTalk(_ frame: some Collection<UInt8>) {
        let opened = talk.withLock { current -> (session: String, frame: (sequence: UInt32, pcm: [UInt8])?)? in
            guard current != nil else { return nil }
            return (current!.session, try? current!.fromOwner.open(frame))
        }
        ownerFrames.withLock { counts in
            counts.arrived += 1
            if opened == nil { counts.withoutSession += 1 } else if opened?.frame == nil { counts.refused += 1 }
        }
        guard let opened, let (sequence, pcm) = opened.frame else { return }
        let samples = (0..<TalkFrame.samples).map {
            Int16(bitPattern: UInt16(pcm[2 * $0]) | UInt16(pcm[2 * $0 + 1]) << 8)
        }
        audio?.receiveTalk(id: opened.session, sequence: sequence, samples: samples)
    }

    private func startLive(_ tap: FrameTap, for limit: Duration, by actor: String, sender: ControlSender) {
        let until = ContinuousClock.now + limit
        live.withLock { current in
            if let running = current {
                current = (running.task, max(running.until, until))
                return
            }
            access.record(
                "Live view started.",
                AccessNote(
                    "live-view", actor: actor, detail: "at most \(limit / .seconds(1)) s", source: "control channel"))
            let started = ContinuousClock.now
            // Sealed for the owner's keys as they are when the view starts, each frame on its own.
            let keys = currentKeys()
            let stream = UUID().uuidString.prefix(8)
            let task = Task { [weak self] in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        var sequence = 0
                        for await frame in tap.frames() {
                            guard let bytes = Self.seal(frame.bytes, media: "live-\(stream)-\(sequence)", for: keys)
                            else { return }
                            sequence += 1
                            guard (try? await sender.send(.liveFrame, bytes)) != nil else { return }
                        }
                    }
                    group.addTask {
                        // Ends the stream at its deadline, which a later live-start may push back.
                        while let until = self?.live.withLock({ $0?.until }), ContinuousClock.now < until {
                            try? await Task.sleep(until: min(until, .now + .seconds(1)))
                            if Task.isCancelled { return }
                        }
                    }
                    await group.next()
                    group.cancelAll()
                }
                self?.live.withLock { $0 = nil }
                self?.access.record(
                    "Live view ended.",
                    AccessNote(
                        "live-view-end", actor: actor, detail: "\((ContinuousClock.now - started) / .seconds(1)) s",
                        source: "control channel"))
            }
            current = (task, until)
        }
    }

    func stopLive() {
        live.withLock { $0 }?.task.cancel()
    }

    /// The channel closed: a live stream and a talk session have nowhere to go.
    func channelClosed() {
        stopLive()
        if let current = talk.withLock({ state in
            defer { state = nil }; return state
        }) {
            current.task.cancel()
            audio?.stopTalk(id: current.session)
        }
    }

    static func nextFrame(from tap: FrameTap, within limit: Duration) async -> Frame? {
        await withTaskGroup(of: Frame?.self) { group in
            group.addTask {
                for await frame in tap.frames() { return frame }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}

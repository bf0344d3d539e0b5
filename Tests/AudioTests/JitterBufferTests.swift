import DoorbellCore
import DoorbellTestKit
import Testing

@testable import Audio

func frame(_ sequence: UInt32) -> [Int16] {
    [Int16](repeating: Int16(sequence % 30_000 + 1), count: AudioFormat.frameSamples)
}

@Suite(.timeLimit(.minutes(10))) struct JitterBufferTests {
    @Test func inOrderFramesPlayInOrderAfterOneFrameOfDelay() {
        var buffer = JitterBuffer(maxDelay: .milliseconds(200))
        var played: [Int16] = []
        for tick in 0..<50 {
            buffer.put(sequence: UInt32(tick), samples: frame(UInt32(tick)), arrival: Double(tick) * 0.02)
            let (samples, kind) = buffer.pull()
            if kind == .frame { played.append(samples[0]) }
        }
        #expect(played == (0..<50).map { Int16($0 + 1) })
        #expect(buffer.statistics.concealed == 0)
    }

    /// 1,000 frames with up to 60 ms of random delay and 5 % loss: what plays is in order, each
    /// lost frame is concealed, nothing arrives too late to play once the delay has adapted, and
    /// the buffer never holds more than its bound.
    @Test func jitterAndLossAreAbsorbed() {
        var random = SplitMix(seed: 42)
        var buffer = JitterBuffer(maxDelay: .milliseconds(200))
        var arrivals: [(time: Double, sequence: UInt32)] = []
        var lost = Set<UInt32>()
        for sequence in 0..<UInt32(1000) {
            if random.next() % 100 < 5 {
                lost.insert(sequence)
                continue
            }
            let delay = (random.symmetric() + 1) / 2 * 0.060
            arrivals.append((Double(sequence) * 0.02 + delay, sequence))
        }
        arrivals.sort { $0.time < $1.time }
        var played: [UInt32] = []
        var concealedAfter: [UInt32] = []
        var next = 0
        for tick in 0..<1100 {
            let now = Double(tick) * 0.02
            while next < arrivals.count, arrivals[next].time <= now {
                let sequence = arrivals[next].sequence
                buffer.put(sequence: sequence, samples: frame(sequence), arrival: arrivals[next].time)
                next += 1
            }
            #expect(buffer.depth <= 10)
            let (samples, kind) = buffer.pull()
            switch kind {
            case .frame: played.append(UInt32(samples[0] - 1))
            case .concealed: concealedAfter.append(played.last ?? 0)
            case .silence: break
            }
        }
        #expect(played == played.sorted(), "frames played out of order")
        #expect(Set(played).count == played.count)
        let late = buffer.statistics.late
        #expect(played.count + late == 1000 - lost.count)
        #expect(late <= 10, "late frames: \(late) (the delay should adapt)")
        #expect(buffer.statistics.concealed >= lost.count - 2)
        #expect(buffer.statistics.maxDepth <= 10)
        // Every gap in what played is a lost frame or one of the few that came too late.
        var unexplained = 0
        for (a, b) in zip(played, played.dropFirst()) where b != a + 1 {
            unexplained += (a + 1..<b).filter { !lost.contains($0) }.count
        }
        #expect(unexplained == late, "gaps not explained by loss: \(unexplained), late frames: \(late)")
    }

    @Test func aFloodIsBoundedByDroppingTheOldest() {
        var buffer = JitterBuffer(maxDelay: .milliseconds(100))
        for sequence in 0..<UInt32(40) { buffer.put(sequence: sequence, samples: frame(sequence), arrival: 0) }
        #expect(buffer.depth == 5)
        #expect(buffer.statistics.dropped == 35)
        #expect(buffer.pull().samples[0] == 36)
    }

    @Test func aLostFrameRepeatsTheLastAtHalfLevelThenSilence() {
        var buffer = JitterBuffer(maxDelay: .milliseconds(200))
        buffer.put(sequence: 0, samples: frame(99), arrival: 0)
        #expect(buffer.pull().kind == .frame)
        buffer.put(sequence: 3, samples: frame(3), arrival: 0.06)
        let first = buffer.pull()
        #expect(first.kind == .concealed && first.samples[0] == 50)
        let second = buffer.pull()
        #expect(second.kind == .concealed && second.samples[0] == 0)
        #expect(buffer.pull().samples[0] == 4)
    }

    @Test func sequenceNumbersWrap() {
        var buffer = JitterBuffer(maxDelay: .milliseconds(200))
        for (index, sequence) in [UInt32.max - 1, UInt32.max, 0, 1].enumerated() {
            buffer.put(sequence: sequence, samples: frame(UInt32(index)), arrival: Double(index) * 0.02)
            #expect(buffer.pull().samples[0] == Int16(index + 1))
        }
    }
}

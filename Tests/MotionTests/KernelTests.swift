import Testing

@testable import Motion

/// A small deterministic generator, so failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomPlane(_ width: Int, _ height: Int, _ rng: inout SplitMix) -> GreyPlane {
    GreyPlane(
        width: width, height: height, pixels: (0..<(width * height)).map { _ in UInt8.random(in: 0...255, using: &rng) }
    )
}

@Suite("SIMD kernels against their scalar definition", .timeLimit(.minutes(10)))
struct KernelTests {
    @Test(
        "the Σ-Δ update matches the scalar reference, pixel for pixel, over many frames",
        arguments: [(160, 120), (37, 11), (17, 3), (5, 5), (321, 7)])
    func sigmaDeltaMatchesScalar(size: (Int, Int)) {
        var rng = SplitMix(state: UInt64(size.0 * 1000 + size.1))
        let (width, height) = size
        for creep: UInt8 in [0, 4] {
            var parameters = SigmaDeltaParameters()
            parameters.spreadCreep = creep
            parameters.holdFrames = 3
            var model = SigmaDeltaModel(first: randomPlane(width, height, &rng), parameters: parameters)
            var background = model.background
            var spread = model.spread
            var age = model.age
            var foreground = [UInt8](repeating: 0, count: width * height)
            var expected = foreground
            for _ in 0..<12 {
                // Mostly small changes around the background, some large, as real frames have.
                let frame = GreyPlane(
                    width: width, height: height,
                    pixels: background.map { value in
                        Bool.random(using: &rng)
                            ? UInt8.random(in: 0...255, using: &rng)
                            : UInt8(clamping: Int(value) + Int.random(in: -6...6, using: &rng))
                    })
                let changed = model.update(with: frame, parameters: parameters, foreground: &foreground)
                var expectedChanged = 0
                for index in 0..<(width * height) {
                    expectedChanged += SigmaDeltaModel.updatePixel(
                        frame.pixels[index], &background[index], &spread[index], &age[index], &expected[index],
                        parameters)
                }
                #expect(model.background == background)
                #expect(model.spread == spread)
                #expect(model.age == age)
                #expect(foreground == expected)
                #expect(changed == expectedChanged)
            }
        }
    }

    @Test("cell counts match a plain count, including planes whose width is not a multiple of 16")
    func cellCountsMatchScalar() {
        var rng = SplitMix(state: 7)
        for (width, height) in [(160, 120), (44, 20), (36, 9), (8, 8)] {
            let foreground = (0..<(width * height)).map { _ in UInt8.random(in: 0...1, using: &rng) }
            var grid = CellGrid(planeWidth: width, planeHeight: height)
            grid.count(foreground, width: width)
            for row in 0..<grid.rows {
                for column in 0..<grid.columns {
                    var sum = 0
                    for y in 0..<4 { for x in 0..<4 { sum += Int(foreground[(row * 4 + y) * width + column * 4 + x]) } }
                    #expect(Int(grid.counts[row * grid.columns + column]) == sum)
                }
            }
        }
    }

    @Test("blobs are 8-connected groups of dense cells, and masked cells are left out")
    func blobs() {
        var grid = CellGrid(planeWidth: 40, planeHeight: 40)  // 10×10 cells
        for cell in [11, 22, 33, 77, 78] { grid.counts[cell] = 16 }
        grid.counts[50] = 7  // sparse: not active
        var allowed = [Bool](repeating: true, count: 100)
        #expect(grid.blobs(allowed: allowed).map { $0.cells.count }.sorted() == [2, 3])
        allowed[22] = false
        #expect(grid.blobs(allowed: allowed).map { $0.cells.count }.sorted() == [1, 1, 2])
    }

    @Test("the lighting estimate finds the gain most blocks agree on, and none for a partial change")
    func consensusGain() {
        var rng = SplitMix(state: 3)
        let background = (0..<(160 * 120)).map { _ in UInt8.random(in: 60...200, using: &rng) }
        let dimmed = background.map { UInt8(Double($0) * 0.6) }
        let gain = LightingEstimate.consensusGain(frame: dimmed, background: background, width: 160, height: 120)
        #expect(gain.map { abs($0 - 0.6) < 0.02 } == true)
        // A dark object over 60 % of the frame is not a lighting change.
        var visitor = background
        for y in 0..<120 { for x in 0..<96 { visitor[y * 160 + x] = UInt8.random(in: 10...50, using: &rng) } }
        #expect(LightingEstimate.consensusGain(frame: visitor, background: background, width: 160, height: 120) == nil)
    }
}

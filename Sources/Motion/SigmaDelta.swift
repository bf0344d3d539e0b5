/// The per-pixel model and its one-pass update, after Manzanera and Richefeu's Σ-Δ background
/// estimation: the background moves toward each frame by a fixed step, and a per-pixel spread
/// follows an average of `N·|difference|`. Pixels that flicker (leaves, water, sensor noise)
/// grow a large spread and stop counting; a new object is far outside its pixels' spread.
///
/// A pixel that is foreground is kept out of the background for `holdFrames` frames (longer
/// after a ring, so a visitor waiting at the door does not melt into the background), then let in.
public struct SigmaDeltaParameters: Sendable, Equatable {
    /// How far the background moves toward the frame per analysed frame.
    public var backgroundStep: UInt8 = 1
    /// The lowest difference that can count as change, whatever the spread (sensor noise floor).
    public var minimumThreshold: UInt8 = 10
    /// Spread = average of `spreadFactor · |difference|`.
    public var spreadFactor: UInt8 = 3
    /// Frames a foreground pixel stays out of the background.
    public var holdFrames: UInt8 = 50
    /// While a pixel is held as foreground, its spread grows by at most this much per frame, so
    /// that a visitor standing still stays visible; 0 lets it follow the average at once (as
    /// during warm-up). Flickering pixels leave the foreground often and learn at the full rate.
    public var spreadCreep: UInt8 = 4

    public init() {}
}

/// The detector's per-pixel state: background, spread and how long each pixel has been foreground.
public struct SigmaDeltaModel: Sendable {
    public let width: Int
    public let height: Int
    public var background: [UInt8]
    public var spread: [UInt8]
    public var age: [UInt8]

    /// Starts from `first` as the background, with the spread at twice the noise floor.
    public init(first: GreyPlane, parameters: SigmaDeltaParameters) {
        width = first.width
        height = first.height
        background = first.pixels
        spread = [UInt8](repeating: parameters.minimumThreshold &* 2, count: first.pixels.count)
        age = [UInt8](repeating: 0, count: first.pixels.count)
    }

    /// Updates the model with `frame` and writes 1 (changed) or 0 per pixel into `foreground`.
    /// Returns the number of changed pixels. SIMD16<UInt8> over the bulk, scalar over the tail.
    public mutating func update(
        with frame: GreyPlane, parameters p: SigmaDeltaParameters, foreground: inout [UInt8]
    ) -> Int {
        precondition(frame.width == width && frame.height == height && foreground.count == frame.pixels.count)
        let count = frame.pixels.count
        let vectors = count / 16
        var changed = 0
        frame.pixels.withUnsafeBufferPointer { current in
            background.withUnsafeMutableBufferPointer { background in
                spread.withUnsafeMutableBufferPointer { spread in
                    age.withUnsafeMutableBufferPointer { age in
                        foreground.withUnsafeMutableBufferPointer { foreground in
                            changed = Self.updateVectors(
                                vectors, current.baseAddress!, background.baseAddress!, spread.baseAddress!,
                                age.baseAddress!, foreground.baseAddress!, p)
                            for index in (vectors * 16)..<count {
                                changed += Self.updatePixel(
                                    current[index], &background[index], &spread[index], &age[index],
                                    &foreground[index], p)
                            }
                        }
                    }
                }
            }
        }
        return changed
    }

    @inline(__always)
    static func updateVectors(
        _ vectors: Int, _ current: UnsafePointer<UInt8>, _ background: UnsafeMutablePointer<UInt8>,
        _ spread: UnsafeMutablePointer<UInt8>, _ age: UnsafeMutablePointer<UInt8>,
        _ foreground: UnsafeMutablePointer<UInt8>, _ p: SigmaDeltaParameters
    ) -> Int {
        let floor = SIMD16<UInt8>(repeating: p.minimumThreshold)
        let step = SIMD16<UInt8>(repeating: p.backgroundStep)
        let hold = SIMD16<UInt8>(repeating: p.holdFrames)
        let factor = SIMD16<UInt8>(repeating: p.spreadFactor)
        let factorLimit = SIMD16<UInt8>(repeating: 255 / max(p.spreadFactor, 1))
        let creep = SIMD16<UInt8>(repeating: p.spreadCreep)
        let creeping = p.spreadCreep > 0
        let one = SIMD16<UInt8>(repeating: 1)
        let full = SIMD16<UInt8>(repeating: 255)
        let zero = SIMD16<UInt8>()
        var total = 0
        var counts = SIMD16<UInt8>()
        var pending = 0
        let raw = UnsafeRawPointer(current)
        let rawBackground = UnsafeMutableRawPointer(background)
        let rawSpread = UnsafeMutableRawPointer(spread)
        let rawAge = UnsafeMutableRawPointer(age)
        let rawForeground = UnsafeMutableRawPointer(foreground)
        for vector in 0..<vectors {
            let offset = vector * 16
            let i = raw.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
            var m = rawBackground.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
            var v = rawSpread.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
            var a = rawAge.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)

            let above = i .> m
            let difference = (i &- m).replacing(with: m &- i, where: .!above)
            let isForeground = difference .> maximum(v, floor)
            a = (a &+ one).replacing(with: full, where: a .== full).replacing(with: zero, where: .!isForeground)
            let mayLearn = .!isForeground .| (a .> hold)
            // Move toward the frame by at most `step`, never past it.
            let move = minimum(difference, step).replacing(with: zero, where: .!mayLearn)
            m = (m &+ move).replacing(with: m &- move, where: .!above)
            // spread ← spread − spread/8 + min(N·d, 255)/8, or a slow creep toward N·d while held
            let scaled = minimum(difference, factorLimit) &* factor
            let average = v &- (v &>> 3) &+ (scaled &>> 3)
            if creeping {
                let held = isForeground .& .!mayLearn
                let raised = v &+ creep
                let saturated = raised.replacing(with: full, where: raised .< v)
                let crept = minimum(saturated, maximum(v, scaled))
                v = average.replacing(with: crept, where: held)
            } else {
                v = average
            }
            let flags = one.replacing(with: zero, where: .!isForeground)

            rawBackground.storeBytes(of: m, toByteOffset: offset, as: SIMD16<UInt8>.self)
            rawSpread.storeBytes(of: v, toByteOffset: offset, as: SIMD16<UInt8>.self)
            rawAge.storeBytes(of: a, toByteOffset: offset, as: SIMD16<UInt8>.self)
            rawForeground.storeBytes(of: flags, toByteOffset: offset, as: SIMD16<UInt8>.self)
            counts &+= flags
            pending += 1
            if pending == 255 {
                total += counts.wrappedSum255()
                counts = zero
                pending = 0
            }
        }
        return total + counts.wrappedSum255()
    }

    /// The scalar definition of one pixel's update; the SIMD path must match it exactly.
    @inline(__always)
    static func updatePixel(
        _ i: UInt8, _ m: inout UInt8, _ v: inout UInt8, _ a: inout UInt8, _ f: inout UInt8, _ p: SigmaDeltaParameters
    ) -> Int {
        let difference = i > m ? i - m : m - i
        let isForeground = difference > max(v, p.minimumThreshold)
        a = isForeground ? (a == 255 ? 255 : a + 1) : 0
        let mayLearn = !isForeground || a > p.holdFrames
        let move = mayLearn ? min(difference, p.backgroundStep) : 0
        m = i > m ? m &+ move : m &- move
        let scaled = min(difference, 255 / max(p.spreadFactor, 1)) &* p.spreadFactor
        if p.spreadCreep > 0 && isForeground && !mayLearn {
            let (sum, overflow) = v.addingReportingOverflow(p.spreadCreep)
            v = min(overflow ? 255 : sum, max(v, scaled))
        } else {
            v = v &- (v >> 3) &+ (scaled >> 3)
        }
        f = isForeground ? 1 : 0
        return Int(f)
    }

    /// Scales the background by `gain` (a global lighting change), so that the next comparison
    /// sees only what changed beyond it.
    public mutating func rescaleBackground(by gain: Double) {
        let fixed = Int((gain * 256).rounded())
        for index in background.indices {
            background[index] = UInt8(min(255, (Int(background[index]) * fixed + 128) >> 8))
        }
    }
}

// The standard library's pointwiseMin/Max are generic and end up as calls in the hot loop; these
// inline to one pminub/pmaxub (umin/umax on NEON).
@inline(__always)
func minimum(_ a: SIMD16<UInt8>, _ b: SIMD16<UInt8>) -> SIMD16<UInt8> { a.replacing(with: b, where: b .< a) }

@inline(__always)
func maximum(_ a: SIMD16<UInt8>, _ b: SIMD16<UInt8>) -> SIMD16<UInt8> { a.replacing(with: b, where: b .> a) }

extension SIMD16 where Scalar == UInt8 {
    /// The sum of the lanes, each at most 255 (so the sum fits an Int without care).
    @inline(__always)
    func wrappedSum255() -> Int {
        let wide = SIMD16<UInt16>(truncatingIfNeeded: self)
        return Int(wide.wrappedSum())
    }
}

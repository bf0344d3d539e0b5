/// The foreground plane summarised in square cells: a cell is active when at least half of its
/// pixels changed. This is the despeckle step (isolated changed pixels never make a cell) and
/// makes blob labelling cheap (a 160×120 plane has 40×30 cells).
public struct CellGrid: Sendable, Equatable {
    public static let size = 4
    public let columns: Int
    public let rows: Int
    /// Changed pixels per cell, 0...16.
    public var counts: [UInt8]

    public init(planeWidth: Int, planeHeight: Int) {
        columns = planeWidth / Self.size
        rows = planeHeight / Self.size
        counts = [UInt8](repeating: 0, count: columns * rows)
    }

    /// Counts the 1s of `foreground` (a plane of 0/1) per cell; pixels past the last whole cell
    /// are ignored.
    public mutating func count(_ foreground: [UInt8], width: Int) {
        let size = Self.size
        foreground.withUnsafeBytes { plane in
            for row in 0..<rows {
                let top = row * size * width
                var column = 0
                // Sixteen pixels (four cells) at a time: add the four rows, then sum each group of
                // four bytes by multiplying their 32-bit word by 0x01010101.
                while column + 4 <= columns {
                    let offset = top + column * size
                    var sum = plane.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self)
                    for line in 1..<size {
                        sum &+= plane.loadUnaligned(fromByteOffset: offset + line * width, as: SIMD16<UInt8>.self)
                    }
                    let words = unsafeBitCast(sum, to: SIMD4<UInt32>.self)
                    let sums = (words &* 0x0101_0101) &>> 24
                    for lane in 0..<4 { counts[row * columns + column + lane] = UInt8(truncatingIfNeeded: sums[lane]) }
                    column += 4
                }
                while column < columns {
                    var sum: UInt8 = 0
                    for line in 0..<size {
                        for x in 0..<size { sum &+= plane[top + line * width + column * size + x] }
                    }
                    counts[row * columns + column] = sum
                    column += 1
                }
            }
        }
    }

    public func isActive(_ index: Int) -> Bool { counts[index] >= UInt8(Self.size * Self.size / 2) }
}

/// A connected group of active cells.
public struct Blob: Sendable, Equatable {
    /// Cell indices.
    public var cells: [Int]
    /// Bounds in cells, inclusive.
    public var minColumn: Int
    public var minRow: Int
    public var maxColumn: Int
    public var maxRow: Int
}

extension CellGrid {
    /// 8-connected blobs of active cells that `allowed` admits (detection masks are excluded
    /// there), by flood fill.
    public func blobs(allowed: [Bool]) -> [Blob] {
        // Most frames have no dense cell at all: answer those without allocating.
        let dense = UInt8(Self.size * Self.size / 2)
        guard counts.contains(where: { $0 >= dense }) else { return [] }
        var seen = [Bool](repeating: false, count: counts.count)
        var result: [Blob] = []
        var stack: [Int] = []
        for start in counts.indices where !seen[start] && allowed[start] && isActive(start) {
            var blob = Blob(cells: [], minColumn: .max, minRow: .max, maxColumn: 0, maxRow: 0)
            seen[start] = true
            stack.append(start)
            while let cell = stack.popLast() {
                blob.cells.append(cell)
                let row = cell / columns
                let column = cell % columns
                blob.minColumn = min(blob.minColumn, column)
                blob.maxColumn = max(blob.maxColumn, column)
                blob.minRow = min(blob.minRow, row)
                blob.maxRow = max(blob.maxRow, row)
                for dy in -1...1 {
                    for dx in -1...1 {
                        let y = row + dy
                        let x = column + dx
                        guard y >= 0, y < rows, x >= 0, x < columns else { continue }
                        let next = y * columns + x
                        if !seen[next] && allowed[next] && isActive(next) {
                            seen[next] = true
                            stack.append(next)
                        }
                    }
                }
            }
            result.append(blob)
        }
        return result
    }
}

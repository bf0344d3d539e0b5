/// A polygon in camera-frame pixels, as the configuration gives zones and masks.
public struct FramePolygon: Sendable, Equatable {
    public var name: String
    public var points: [(x: Double, y: Double)]
    /// For zones: the zone's own minimum changed area in percent; nil uses the detector's.
    public var minAreaPercent: Double?

    public init(name: String, points: [(x: Int, y: Int)], minAreaPercent: Double? = nil) {
        self.name = name
        self.points = points.map { (Double($0.x), Double($0.y)) }
        self.minAreaPercent = minAreaPercent
    }

    public static func == (lhs: FramePolygon, rhs: FramePolygon) -> Bool {
        lhs.name == rhs.name && lhs.minAreaPercent == rhs.minAreaPercent
            && lhs.points.elementsEqual(rhs.points) { $0.x == $1.x && $0.y == $1.y }
    }

    /// Even-odd rule.
    public func contains(x: Double, y: Double) -> Bool {
        var inside = false
        var j = points.count - 1
        for i in points.indices {
            let (xi, yi) = points[i]
            let (xj, yj) = points[j]
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi { inside.toggle() }
            j = i
        }
        return inside
    }

    /// Which cells of a grid over a `frameWidth`×`frameHeight` frame have their centre inside.
    func cellMask(_ grid: CellGrid, frameWidth: Int, frameHeight: Int) -> [Bool] {
        let cellWidth = Double(frameWidth) / Double(grid.columns)
        let cellHeight = Double(frameHeight) / Double(grid.rows)
        return (0..<(grid.columns * grid.rows)).map { index in
            contains(
                x: (Double(index % grid.columns) + 0.5) * cellWidth,
                y: (Double(index / grid.columns) + 0.5) * cellHeight)
        }
    }
}

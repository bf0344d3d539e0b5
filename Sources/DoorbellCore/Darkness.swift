import Foundation

/// When it is dark enough for IR light at a place: from civil dusk to civil dawn, when the sun's
/// centre is more than 6° below the horizon. Civil rather than sunset: a camera still sees well in
/// the half hour after sunset, and IR switched on then only flattens the picture.
///
/// The sun's position follows the "sunrise equation" (Meeus's low-precision solar coordinates, as
/// NOAA and most almanacs use): good to a minute or two away from the poles, far finer than the
/// light changes.
public struct Darkness: Sendable, Equatable {
    public var latitude: Double
    public var longitude: Double

    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }

    /// How one solar day goes at this place.
    public enum Day: Sendable, Equatable {
        /// Dark from `dusk` to the next day's dawn, light from `dawn` to `dusk` (Unix milliseconds).
        case twilight(dawn: Int64, dusk: Int64)
        /// The sun stays above −6° all day (white nights near the poles in summer).
        case alwaysLight
        /// The sun stays below −6° all day (polar night).
        case alwaysDark
    }

    /// The solar day whose mean local noon is nearest to `epochMilliseconds`.
    public func day(around epochMilliseconds: Int64) -> Day {
        let degrees = Double.pi / 180
        let julianDay = Double(epochMilliseconds) / 86_400_000 + 2_440_587.5
        // Mean solar noon here, in days since J2000.0 (noon UT on 2000-01-01); east is positive.
        let noon = (julianDay - 2_451_545 + longitude / 360).rounded() - longitude / 360
        let anomaly = (357.5291 + 0.985_600_28 * noon).truncatingRemainder(dividingBy: 360) * degrees
        let centre = 1.9148 * sin(anomaly) + 0.02 * sin(2 * anomaly) + 0.0003 * sin(3 * anomaly)
        let eclipticLongitude =
            (anomaly / degrees + centre + 180 + 102.9372).truncatingRemainder(dividingBy: 360) * degrees
        let transit = noon + 0.0053 * sin(anomaly) - 0.0069 * sin(2 * eclipticLongitude)
        let declination = asin(sin(eclipticLongitude) * sin(23.4397 * degrees))
        let phi = latitude * degrees
        let cosHourAngle =
            (sin(-6 * degrees) - sin(phi) * sin(declination)) / (cos(phi) * cos(declination))
        if cosHourAngle > 1 { return .alwaysDark }
        if cosHourAngle < -1 { return .alwaysLight }
        let halfDay = acos(cosHourAngle) / degrees / 360
        func epoch(_ j2000: Double) -> Int64 {
            Int64(((j2000 + 2_451_545 - 2_440_587.5) * 86_400_000).rounded())
        }
        return .twilight(dawn: epoch(transit - halfDay), dusk: epoch(transit + halfDay))
    }

    /// Whether it is dark at this place at `epochMilliseconds`.
    public func isDark(at epochMilliseconds: Int64) -> Bool {
        switch day(around: epochMilliseconds) {
        case .alwaysDark: true
        case .alwaysLight: false
        case .twilight(let dawn, let dusk): epochMilliseconds < dawn || epochMilliseconds >= dusk
        }
    }
}

/// When the IR LEDs are on: daily spans of local time, or whenever it is dark at the doorbell.
public enum IRSchedule: Sendable, Equatable {
    case hours([QuietHours])
    case dark(Darkness)

    public func isOn(at wall: WallTime) -> Bool {
        switch self {
        case .hours(let spans): spans.contains { $0.contains(minuteOfDay: wall.minuteOfDay) }
        case .dark(let place): place.isDark(at: wall.epochMilliseconds)
        }
    }
}

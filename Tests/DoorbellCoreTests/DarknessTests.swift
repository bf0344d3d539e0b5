import DoorbellCore
import DoorbellTestKit
import Logging
import Testing

/// The sun's geometry, checked by what must hold rather than by copied almanac times: the civil
/// day's length where the answer is exact, noon's place, the polar cases and the seasons.
@Suite("Darkness: civil dusk to dawn", .timeLimit(.minutes(10)))
struct DarknessTests {
    // Noon UTC on dates near the 2026 equinoxes and solstices.
    let marchEquinox: Int64 = 1_774_008_000_000
    let juneSolstice: Int64 = 1_782_043_200_000
    let septemberEquinox: Int64 = 1_790_164_800_000
    let decemberSolstice: Int64 = 1_797_854_400_000
    let minute: Int64 = 60_000

    func twilight(_ place: Darkness, _ at: Int64) -> (dawn: Int64, dusk: Int64)? {
        if case .twilight(let dawn, let dusk) = place.day(around: at) { return (dawn, dusk) }
        return nil
    }

    @Test("at the equator on an equinox the civil day is 2 × 96° of the sun's path: 12 h 48 min")
    func equinoxAtTheEquator() throws {
        for date in [marchEquinox, septemberEquinox] {
            let day = try #require(twilight(Darkness(latitude: 0, longitude: 0), date))
            // The declination is within half a degree of zero on these dates: a few minutes.
            #expect(abs((day.dusk - day.dawn) - (12 * 60 + 48) * minute) <= 4 * minute)
        }
    }

    @Test("local noon falls within the equation of time (±17 min) of 12:00 mean time, and moves with longitude")
    func noonMovesWithLongitude() throws {
        for date in [marchEquinox, juneSolstice, septemberEquinox, decemberSolstice] {
            let greenwich = try #require(twilight(Darkness(latitude: 45, longitude: 0), date))
            let noon = (greenwich.dawn + greenwich.dusk) / 2
            #expect(abs(noon - date) <= 17 * minute)
            // 15° east: the same noon one hour earlier (to the minute: the sun barely moves in a day).
            let east = try #require(twilight(Darkness(latitude: 45, longitude: 15), date))
            #expect(abs((east.dawn + east.dusk) / 2 - (noon - 60 * minute)) <= minute)
        }
    }

    @Test("white nights and polar night: no dusk at 62° N in June, no dawn at 80° N in December")
    func polarCases() {
        #expect(Darkness(latitude: 62, longitude: 25).day(around: juneSolstice) == .alwaysLight)
        #expect(Darkness(latitude: 80, longitude: 15).day(around: decemberSolstice) == .alwaysDark)
        // At 70° N the midwinter sun climbs to about −3.4°: a short civil day remains.
        let arctic = twilight(Darkness(latitude: 70, longitude: 19), decemberSolstice)
        #expect(arctic.map { $0.dusk - $0.dawn < 6 * 60 * minute } == true)
        #expect(Darkness(latitude: -80, longitude: 0).day(around: juneSolstice) == .alwaysDark)
    }

    @Test("the seasons: long June days in the north are short in the south")
    func seasons() throws {
        let north = Darkness(latitude: 52.5, longitude: 13.4)
        let south = Darkness(latitude: -52.5, longitude: 13.4)
        let northJune = try #require(twilight(north, juneSolstice))
        let northDecember = try #require(twilight(north, decemberSolstice))
        let southJune = try #require(twilight(south, juneSolstice))
        #expect(northJune.dusk - northJune.dawn > 18 * 60 * minute)
        #expect(northDecember.dusk - northDecember.dawn < 10 * 60 * minute)
        #expect(abs((southJune.dusk - southJune.dawn) - (northDecember.dusk - northDecember.dawn)) < 15 * minute)
    }

    @Test("agrees with an independent almanac (Python's astral 3.2, civil dawn and dusk) within 2 minutes")
    func matchesAnAlmanac() throws {
        // (latitude, longitude, a time on the day, astral's dawn and dusk in UTC as seconds of the day)
        let cases: [(Double, Double, Int64, Int64, Int64)] = [
            (52.52, 13.405, juneSolstice, 1 * 3600 + 52 * 60 + 14, 20 * 3600 + 24 * 60 + 8),  // Berlin
            (52.52, 13.405, decemberSolstice, 6 * 3600 + 32 * 60 + 47, 15 * 3600 + 36 * 60 + 4),
            (-0.18, -78.47, marchEquinox + 5 * 3_600_000, 10 * 3600 + 57 * 60 + 6, 23 * 3600 + 45 * 60 + 23),  // Quito
        ]
        for (latitude, longitude, at, dawn, dusk) in cases {
            let day = try #require(twilight(Darkness(latitude: latitude, longitude: longitude), at))
            let midnight = at - at % 86_400_000
            #expect(abs(day.dawn - (midnight + dawn * 1000)) <= 2 * minute)
            #expect(abs(day.dusk - (midnight + dusk * 1000)) <= 2 * minute)
        }
    }

    @Test("dark before dawn and after dusk, light between, across midnight either way")
    func darkOrLight() throws {
        let place = Darkness(latitude: 0, longitude: 0)
        let day = try #require(twilight(place, marchEquinox))
        #expect(!place.isDark(at: marchEquinox))
        #expect(place.isDark(at: day.dawn - minute))
        #expect(!place.isDark(at: day.dawn + minute))
        #expect(!place.isDark(at: day.dusk - minute))
        #expect(place.isDark(at: day.dusk + minute))
        #expect(place.isDark(at: marchEquinox + 12 * 60 * minute - minute))  // just before midnight
        #expect(place.isDark(at: marchEquinox + 12 * 60 * minute + minute))  // just after
    }

    @Test("the IR LEDs switch on at civil dusk on the doorbell's clock")
    func illuminatorAtDusk() throws {
        let place = Darkness(latitude: 0, longitude: 0)
        let day = try #require(twilight(place, marchEquinox))
        let clock = ManualClock(wall: WallTime(epochMilliseconds: day.dusk - minute, minuteOfDay: 0))
        let output = RecordingOutput()
        let ir = Illuminator(
            output: output, schedule: .dark(place), clock: clock, logger: Logger(label: "test"),
            faults: FaultLimiter(interval: .seconds(60)))
        ir.update()
        clock.advance(by: .seconds(120))
        ir.update()
        #expect(output.history == [false, true])
    }
}

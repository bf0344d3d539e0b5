#if canImport(Glibc)
    import Glibc
#endif

/// The real clocks: CLOCK_MONOTONIC, and CLOCK_REALTIME with the local time zone.
public struct SystemClock: DoorbellClock {
    public init() {}

    public func monotonicNow() -> Duration {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return .seconds(now.tv_sec) + .nanoseconds(now.tv_nsec)
    }

    public func wallNow() -> WallTime {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var local = tm()
        localtime_r(&seconds, &local)
        return WallTime(
            epochMilliseconds: Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec / 1_000_000),
            minuteOfDay: Int(local.tm_hour) * 60 + Int(local.tm_min))
    }
}

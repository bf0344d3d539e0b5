/// Exponential backoff with jitter for retrying a peer or a device: each wait is random between
/// half and all of the current bound, which doubles up to the range's top, so that doorbells
/// (or threads) that failed together do not retry in step.
public struct Backoff: Sendable {
    let range: ClosedRange<Duration>
    var bound: Duration

    public init(_ range: ClosedRange<Duration>) {
        self.range = range
        bound = range.lowerBound
    }

    public mutating func reset() { bound = range.lowerBound }

    public mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        let milliseconds = max(Int64(bound / .milliseconds(1)), 1)
        let wait = Duration.milliseconds(Int64.random(in: milliseconds / 2...milliseconds, using: &generator))
        bound = min(bound * 2, range.upperBound)
        return wait
    }
}

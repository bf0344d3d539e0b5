/// Tries a message until a push service takes it, refuses it, or its time to live runs out:
/// again after 429 and 5xx (and no answer), waiting what `Retry-After` says or else a doubling
/// backoff with jitter (RFC 8030 section 8.4).
public struct PushRetryPolicy: Sendable {
    public var attempts: Int
    public var firstDelay: Duration
    public var maxDelay: Duration

    public init(attempts: Int = 5, firstDelay: Duration = .seconds(1), maxDelay: Duration = .seconds(60)) {
        self.attempts = attempts
        self.firstDelay = firstDelay
        self.maxDelay = maxDelay
    }

    /// The wait before attempt `attempt + 1` (attempt counts from 1): doubling, capped, with up
    /// to a quarter more at random so that retries to one service spread out.
    func backoff(after attempt: Int) -> Duration {
        let doubled = firstDelay * (1 << min(attempt - 1, 20))
        let base = min(doubled, maxDelay)
        return base + base * Double.random(in: 0..<0.25)
    }

    /// Runs `attempt` as often as the policy allows within `budget` (the message's time to
    /// live); returns the last outcome and how many attempts were made.
    public func run(
        budget: Duration, clock: some Clock<Duration> = ContinuousClock(),
        attempt: () async -> PushOutcome
    ) async -> (outcome: PushOutcome, attempts: Int) {
        let start = clock.now
        var made = 0
        while true {
            let outcome = await attempt()
            made += 1
            guard case .retry(_, let after, _) = outcome, made < attempts else { return (outcome, made) }
            let wait = after ?? backoff(after: made)
            guard start.duration(to: clock.now) + wait < budget else { return (outcome, made) }
            do {
                try await clock.sleep(for: wait)
            } catch {
                return (outcome, made)
            }
        }
    }
}

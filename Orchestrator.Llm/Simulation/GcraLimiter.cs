namespace Orchestrator.Llm.Simulation;

/// <summary>
/// One rate limit of the simulator, by the generic cell rate algorithm (docs/design: flow control):
/// a theoretical arrival time advances by <c>cost × 60 s / limit</c> per request; a request is
/// refused when that would run more than the burst ahead of now, and told how long to wait.
/// Not thread-safe: the engine holds its lock.
/// </summary>
internal sealed class GcraLimiter(int perMinute, TimeSpan burst)
{
    private readonly double _intervalMs = 60_000.0 / perMinute;
    private readonly double _burstMs = burst.TotalMilliseconds;
    private double _tatMs;

    public int Limit => perMinute;

    /// <summary>The wait before <paramref name="cost"/> units would fit; zero when they fit now.</summary>
    public double WaitMs(double nowMs, long cost)
    {
        var tat = Math.Max(_tatMs, nowMs) + (cost * _intervalMs);
        // A single request larger than the burst still passes once the limiter is idle.
        return Math.Max(0, tat - nowMs - Math.Max(_burstMs, cost * _intervalMs));
    }

    public void Take(double nowMs, long cost) => _tatMs = Math.Max(_tatMs, nowMs) + (cost * _intervalMs);

    /// <summary>Units that would fit now (for <c>x-ratelimit-remaining-*</c>).</summary>
    public long Remaining(double nowMs) => (long)Math.Max(0, (_burstMs - Math.Max(0, _tatMs - nowMs)) / _intervalMs);

    /// <summary>Time until the limiter is idle again (for <c>x-ratelimit-reset-*</c>).</summary>
    public TimeSpan Reset(double nowMs) => TimeSpan.FromMilliseconds(Math.Max(0, _tatMs - nowMs));
}

using Orchestrator.Jobs;

namespace Orchestrator.Worker.Resilience;

/// <summary>
/// Where a retry's wait is decided: <c>BaseDelay × 2^(attempt−1)</c>, capped at <c>MaxDelay</c>;
/// with jitter, uniformly within ±25 % of that (still capped), so retries of many jobs that failed
/// together spread out instead of returning in a wave.
/// </summary>
public static class RetryDelay
{
    /// <summary>The jitter's half-width, as a share of the un-jittered delay.</summary>
    public const double JitterSpread = 0.25;

    /// <summary>The wait after the failed attempt number <paramref name="attempt"/> (1-based).</summary>
    /// <param name="random">A number in [0, 1); only used with jitter.</param>
    public static TimeSpan After(int attempt, RetryOptions options, double random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        var exponent = Math.Min(attempt - 1, 62);
        var ticks = options.BaseDelay.Ticks * Math.Pow(2, exponent);
        var capped = Math.Min(ticks, options.MaxDelay.Ticks);
        if (options.UseJitter)
        {
            capped = Math.Min(capped * (1 - JitterSpread + (2 * JitterSpread * random)), options.MaxDelay.Ticks);
        }

        return TimeSpan.FromTicks((long)capped);
    }
}

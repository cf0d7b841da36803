using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// Retries a store call while Redis is unreachable, with capped backoff, until it succeeds or the
/// token stops it: the worker neither crashes nor spins during a Redis outage.
/// </summary>
internal static class RedisRetry
{
    public static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(2);

    /// <summary>Whether <paramref name="exception"/> means Redis cannot answer now but will later.</summary>
    public static bool IsUnavailable(Exception exception) => RedisUnavailability.IsUnavailable(exception);

    /// <summary>The wait after <paramref name="delay"/>: doubled, capped.</summary>
    public static TimeSpan NextDelay(TimeSpan delay) => TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxDelay.Ticks));

    public static async Task<T> RunAsync<T>(
        Func<Task<T>> operation, string name, ILogger logger, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var delay = FirstDelay;
        while (true)
        {
            try
            {
                return await operation().ConfigureAwait(false);
            }
            catch (Exception e) when (IsUnavailable(e) && !cancellationToken.IsCancellationRequested)
            {
                WorkerLog.RedisUnavailable(logger, name, delay, e);
                await Task.Delay(delay, timeProvider, cancellationToken).ConfigureAwait(false);
                delay = NextDelay(delay);
            }
        }
    }
}

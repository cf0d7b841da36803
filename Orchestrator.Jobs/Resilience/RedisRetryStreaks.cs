using System.Collections.Concurrent;

namespace Orchestrator.Jobs;

/// <summary>
/// How long each Redis operation has been retried without a pause: the <c>redis</c> pipeline retries
/// without limit, so a loop whose writes Redis keeps refusing (a node left a replica, a full memory)
/// never fails, and only this shows it. The API, which retries nothing, records each submission Redis
/// refuses (clients send them again) and each that succeeds. A streak is the retries of one operation
/// at most <see cref="Gap"/> apart (the pipeline waits at most 2 s between tries); a longer gap starts
/// a new one, and a success ends it. <see cref="RedisRetriesHealthCheck"/> reads them.
/// </summary>
public sealed class RedisRetryStreaks(TimeProvider timeProvider)
{
    /// <summary>Retries further apart than this belong to different streaks.</summary>
    public static readonly TimeSpan Gap = RedisPipeline.MaxDelay + TimeSpan.FromSeconds(3);

    private readonly ConcurrentDictionary<string, (long Start, long Last)> _streaks = new(StringComparer.Ordinal);

    /// <summary>Records a retry of <paramref name="operation"/>.</summary>
    public void Retried(string operation)
    {
        var now = timeProvider.GetTimestamp();
        _streaks.AddOrUpdate(operation, static (_, now) => (now, now),
            (_, streak, now) => (timeProvider.GetElapsedTime(streak.Last, now) > Gap ? now : streak.Start, now), now);
    }

    /// <summary>Records that <paramref name="operation"/> succeeded: it is no longer being retried.</summary>
    public void Succeeded(string operation) => _streaks.TryRemove(operation, out _);

    /// <summary>The operations being retried now (last retry within <see cref="Gap"/>), with how long each has been.</summary>
    public IReadOnlyDictionary<string, TimeSpan> Current()
    {
        var now = timeProvider.GetTimestamp();
        var current = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        foreach (var (operation, streak) in _streaks)
        {
            if (timeProvider.GetElapsedTime(streak.Last, now) <= Gap)
            {
                current[operation] = timeProvider.GetElapsedTime(streak.Start, now);
            }
        }

        return current;
    }
}

using System.Collections.Concurrent;

namespace Orchestrator.Jobs;

/// <summary>
/// How long each Redis operation has been retried without a pause: the <c>redis</c> pipeline retries
/// without limit, so a loop whose writes Redis keeps refusing (a node left a replica, a full memory)
/// never fails, and only this shows it. The API, which retries nothing, records each submission Redis
/// refuses (clients send them again) and each that succeeds. A streak is the retries of one operation
/// at most a gap apart (<see cref="Gap"/>: the pipeline waits at most 2 s between tries; the API's
/// <see cref="ApiGap"/>); a longer gap starts a new one, and a success ends it. <see cref="RedisRetriesHealthCheck"/> reads them.
/// </summary>
public sealed class RedisRetryStreaks(TimeProvider timeProvider, TimeSpan gap)
{
    /// <summary>Retries further apart than this belong to different streaks (the worker's: its pipeline's longest wait + 3 s).</summary>
    public static readonly TimeSpan Gap = RedisPipeline.MaxDelay + TimeSpan.FromSeconds(3);

    /// <summary>
    /// The API's gap: its refusals are clients' re-sends, which wait the 503's <c>Retry-After</c>
    /// (5 s) first; at <see cref="Gap"/> the API was Healthy between two of them while Redis was still full.
    /// </summary>
    public static readonly TimeSpan ApiGap = TimeSpan.FromSeconds(15);

    /// <summary>Streaks with the worker's <see cref="Gap"/>.</summary>
    public RedisRetryStreaks(TimeProvider timeProvider)
        : this(timeProvider, Gap)
    {
    }

    private readonly ConcurrentDictionary<string, (long Start, long Last)> _streaks = new(StringComparer.Ordinal);
    private long _lastStall = long.MinValue;

    /// <summary>
    /// When a retry last followed a failure that means Redis did not answer (no connection, a timeout,
    /// a node loading, a failover) or refused the leases' renewals too (persistence failing, a right
    /// taken away), as a <see cref="TimeProvider"/> timestamp; null if none yet. Not memory full (renewals
    /// run above maxmemory) or a missing group.
    /// </summary>
    public long? LastStall => Interlocked.Read(ref _lastStall) is var last && last != long.MinValue ? last : null;

    /// <summary>Records a retry of <paramref name="operation"/> after a failure of <paramref name="kind"/>.</summary>
    public void Retried(string operation, RedisFailureKind kind)
    {
        if (kind is not (RedisFailureKind.OutOfMemory or RedisFailureKind.NoGroup or RedisFailureKind.None))
        {
            Interlocked.Exchange(ref _lastStall, timeProvider.GetTimestamp());
        }

        Retried(operation);
    }

    /// <summary>Records a retry of <paramref name="operation"/>.</summary>
    public void Retried(string operation)
    {
        var now = timeProvider.GetTimestamp();
        _streaks.AddOrUpdate(operation, static (_, now) => (now, now),
            (_, streak, now) => (timeProvider.GetElapsedTime(streak.Last, now) > gap ? now : streak.Start, now), now);
    }

    /// <summary>Records that <paramref name="operation"/> succeeded: it is no longer being retried.</summary>
    public void Succeeded(string operation) => _streaks.TryRemove(operation, out _);

    /// <summary>The operations being retried now (last retry within the gap), with how long each has been.</summary>
    public IReadOnlyDictionary<string, TimeSpan> Current()
    {
        var now = timeProvider.GetTimestamp();
        var current = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);
        foreach (var (operation, streak) in _streaks)
        {
            if (timeProvider.GetElapsedTime(streak.Last, now) <= gap)
            {
                current[operation] = timeProvider.GetElapsedTime(streak.Start, now);
            }
        }

        return current;
    }
}

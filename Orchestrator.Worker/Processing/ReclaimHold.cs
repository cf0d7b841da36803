using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// Holds reclaim back for a while after this worker saw Redis stall. Leases are timed on Redis's
/// clock (a pending entry's idle time), which runs on while Redis restarts, is paused or fails over:
/// once it answers again every lease held across a stall longer than the lease looks lapsed until its
/// owner's next renewal, and a reclaim that came first took live workers' jobs (their paid answers
/// dropped, the LLM called again, the jobs marked suspects). A stall is what this worker saw: a call
/// retried because Redis did not answer (<see cref="RedisRetryStreaks.LastStall"/>), a connection
/// lost, a lease renewal that failed, or a call that took longer than a renewal period.
/// </summary>
/// <remarks>
/// The hold is a renewal period (a third of the lease) and two of the retry pipeline's longest waits
/// (one for this worker's calls to see Redis again, one for the owners' to), and a second more. A
/// worker that died during a stall has its jobs taken over that much later.
/// </remarks>
internal sealed class ReclaimHold
{
    private readonly RedisRetryStreaks _streaks;
    private readonly TimeProvider _timeProvider;
    private long _lastStall = long.MinValue;

    public ReclaimHold(RedisRetryStreaks streaks, IOptions<WorkerOptions> options, TimeProvider timeProvider, IConnectionMultiplexer? redis = null)
    {
        _streaks = streaks;
        _timeProvider = timeProvider;
        RenewalPeriod = options.Value.LeaseTimeout / 3;
        Length = RenewalPeriod + 2 * RedisPipeline.MaxDelay + TimeSpan.FromSeconds(1);
        if (redis is not null)
        {
            redis.ConnectionFailed += (_, _) => Stalled();
        }
    }

    /// <summary>How long reclaim waits after a stall.</summary>
    public TimeSpan Length { get; }

    /// <summary>A third of the lease: how often owners renew, and how long a call may take before it counts as a stall.</summary>
    public TimeSpan RenewalPeriod { get; }

    /// <summary>How long reclaim still waits (zero when it need not).</summary>
    public TimeSpan Remaining
    {
        get
        {
            var last = Math.Max(Interlocked.Read(ref _lastStall), _streaks.LastStall ?? long.MinValue);
            if (last == long.MinValue)
            {
                return TimeSpan.Zero;
            }

            var left = Length - _timeProvider.GetElapsedTime(last);
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>Records that Redis did not answer this worker just now.</summary>
    public void Stalled() => Interlocked.Exchange(ref _lastStall, _timeProvider.GetTimestamp());

    /// <summary>Records a stall if the call begun at <paramref name="startedAt"/> (a timestamp) took longer than a renewal period.</summary>
    public void Timed(long startedAt)
    {
        if (_timeProvider.GetElapsedTime(startedAt) > RenewalPeriod)
        {
            Stalled();
        }
    }
}

using System.Globalization;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>
/// Redis's clock as this process reads it: the server's <c>TIME</c> at the last reading, moved on
/// by this process's monotonic clock since. The scripts stamp jobs with Redis's clock
/// (<c>createdAt</c>, <c>nextAttemptAt</c>), so a process that compares them with its host's wall
/// clock takes in that host's skew: a worker 10 minutes behind waited 10 minutes to retry a job it
/// reclaimed, and stamped its webhooks 10 minutes off. Read again every few seconds
/// (<see cref="SyncAsync"/>), so a step of the host's clock never reaches it; before the first
/// reading, the host's clock.
/// </summary>
public sealed class StoreClock(TimeProvider timeProvider)
{
    // A reading whose round trip took longer says little about when the server read its clock.
    private static readonly TimeSpan MaxRoundTrip = TimeSpan.FromSeconds(1);

    private Reading? _last;

    /// <summary>Now, on Redis's clock (as of the last reading; the host's clock before one).</summary>
    public DateTimeOffset UtcNow => Volatile.Read(ref _last) is { } last
        ? last.ServerTime + timeProvider.GetElapsedTime(last.Timestamp)
        : timeProvider.GetUtcNow();

    /// <summary>Reads Redis's <c>TIME</c>; a slow round trip is not kept (the last reading stands).</summary>
    public async Task SyncAsync(IDatabaseAsync db)
    {
        ArgumentNullException.ThrowIfNull(db);
        var sent = timeProvider.GetTimestamp();
        var time = (RedisResult[])(await db.ExecuteAsync("TIME").ConfigureAwait(false))!;
        var received = timeProvider.GetTimestamp();
        var micros = (long.Parse((string)time[0]!, CultureInfo.InvariantCulture) * 1_000_000) + long.Parse((string)time[1]!, CultureInfo.InvariantCulture);
        Observe(DateTimeOffset.UnixEpoch.AddTicks(micros * 10), sent, received);
    }

    /// <summary>
    /// Takes <paramref name="serverTime"/>, read between the monotonic timestamps
    /// <paramref name="sent"/> and <paramref name="received"/>, as the time halfway between them.
    /// </summary>
    public void Observe(DateTimeOffset serverTime, long sent, long received)
    {
        var roundTrip = timeProvider.GetElapsedTime(sent, received);
        if (roundTrip > MaxRoundTrip && Volatile.Read(ref _last) is not null)
        {
            return;
        }

        Volatile.Write(ref _last, new Reading(serverTime, sent + ((received - sent) / 2)));
    }

    private sealed record Reading(DateTimeOffset ServerTime, long Timestamp);
}

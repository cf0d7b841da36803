using Orchestrator.Testing;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// Redis's own clock (<c>TIME</c>), which every job-store script stamps its writes with: a test
/// bounds the times a script wrote between two readings of it, or waits for it to move on.
/// </summary>
internal static class RedisClock
{
    /// <summary>Redis's time, truncated to the millisecond as the scripts store it.</summary>
    public static async Task<DateTimeOffset> NowAsync(IDatabase db)
    {
        var time = (RedisResult[])(await db.ExecuteAsync("TIME").WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken))!;
        return DateTimeOffset.FromUnixTimeMilliseconds(((long)time[0] * 1000) + ((long)time[1] / 1000));
    }

    /// <summary>Waits until Redis's clock reads a later millisecond than <paramref name="instant"/>.</summary>
    public static Task WaitPastAsync(IDatabase db, DateTimeOffset instant) =>
        AsyncWait.WaitUntilAsync(async () => await NowAsync(db) > instant, TimeSpan.FromSeconds(10),
            "Redis's clock moved past " + instant.ToString("O", System.Globalization.CultureInfo.InvariantCulture), TimeSpan.FromMilliseconds(1));
}

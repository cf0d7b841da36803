using System.Globalization;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// Counts the Lua script calls a Redis server has run (EVAL and EVALSHA, from <c>INFO commandstats</c>),
/// so a test can see how many round trips a batch took on the server itself.
/// </summary>
internal static class ScriptCalls
{
    public static async Task<long> CountAsync(IDatabase db)
    {
        var info = (string?)await db.ExecuteAsync("INFO", "commandstats").Bounded() ?? string.Empty;
        long calls = 0;
        foreach (var line in info.Split('\n', StringSplitOptions.TrimEntries))
        {
            // cmdstat_evalsha:calls=3,usec=120,usec_per_call=40.00,rejected_calls=0,failed_calls=0
            if (line.StartsWith("cmdstat_eval:", StringComparison.Ordinal) || line.StartsWith("cmdstat_evalsha:", StringComparison.Ordinal))
            {
                var stats = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..];
                var value = stats.Split(',').Single(s => s.StartsWith("calls=", StringComparison.Ordinal))["calls=".Length..];
                calls += long.Parse(value, CultureInfo.InvariantCulture);
            }
        }

        return calls;
    }
}

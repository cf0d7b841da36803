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
                var stats = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(',');
                long Stat(string name) => long.Parse(stats.Single(s => s.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..], CultureInfo.InvariantCulture);
                // A script's first EVALSHA on a fresh server fails with NOSCRIPT, runs nothing, and
                // is followed by its EVAL (RedisScript): the calls that ran are the ones that did not fail.
                calls += Stat("calls") - Stat("failed_calls");
            }
        }

        return calls;
    }
}

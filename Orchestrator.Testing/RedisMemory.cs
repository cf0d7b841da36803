using System.Globalization;
using StackExchange.Redis;

namespace Orchestrator.Testing;

/// <summary>What a real Redis reports of its memory, for the tests and faults that set <c>maxmemory</c> around it.</summary>
public static class RedisMemory
{
    /// <summary>The node's <c>used_memory</c> (<c>INFO memory</c>), in bytes.</summary>
    public static async Task<long> UsedMemoryAsync(this IDatabase db)
    {
        var info = (string?)await db.ExecuteAsync("INFO", "memory").ConfigureAwait(false) ?? string.Empty;
        var line = info.Split('\n').Single(static l => l.StartsWith("used_memory:", StringComparison.Ordinal));
        return long.Parse(line["used_memory:".Length..].Trim(), CultureInfo.InvariantCulture);
    }
}

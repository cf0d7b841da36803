using System.Globalization;
using System.Text.Json;
using StackExchange.Redis;

namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>
/// The jobs' own timestamps (Unix ms, written by the worker's Lua scripts), read after a run, so the
/// measurement adds no load while the worker is running.
/// </summary>
internal sealed record JobTiming(
    string Id, string? Status, int Attempts, long CreatedAt, long? FirstAttemptAt, long? CompletedAt, IReadOnlyList<string?> Outcomes)
{
    public static async Task<IReadOnlyList<JobTiming>> ReadAsync(BenchmarkContext context, IReadOnlyList<string> ids, bool withHistory)
    {
        var timings = new List<JobTiming>(ids.Count);
        RedisValue[] fields = ["status", "attempts", "createdAt", "firstAttemptAt", "completedAt"];
        foreach (var chunk in ids.Chunk(1000))
        {
            var batch = context.Db.CreateBatch();
            var hashes = chunk.Select(id => batch.HashGetAsync(context.Keys.Job(id), fields)).ToArray();
            var histories = withHistory ? chunk.Select(id => batch.HashGetAllAsync(context.Keys.Job(id))).ToArray() : null;
            batch.Execute();
            for (var i = 0; i < chunk.Length; i++)
            {
                var values = await hashes[i];
                IReadOnlyList<string?> outcomes = histories is null ? [] : OutcomesOf(await histories[i]);
                timings.Add(new JobTiming(
                    chunk[i], values[0], (int?)values[1] ?? 0, (long?)values[2] ?? 0, (long?)values[3], (long?)values[4], outcomes));
            }
        }

        return timings;
    }

    /// <summary>Jobs per second between the first attempt's start and the last completion.</summary>
    public static double Throughput(IReadOnlyList<JobTiming> timings)
    {
        var first = timings.Min(t => t.FirstAttemptAt ?? long.MaxValue);
        var last = timings.Max(t => t.CompletedAt ?? long.MinValue);
        return timings.Count / Math.Max(0.001, (last - first) / 1000.0);
    }

    // Attempt n's history entry is the job hash's field 'attempt:<n>' (includes/job.lua [history]).
    private static string?[] OutcomesOf(HashEntry[] job) =>
        [.. job.Where(f => f.Name.StartsWith("attempt:"))
            .OrderBy(f => int.Parse(((string)f.Name!)["attempt:".Length..], CultureInfo.InvariantCulture))
            .Select(f => OutcomeOf(f.Value))];

    private static string? OutcomeOf(RedisValue json)
    {
        using var document = JsonDocument.Parse((string)json!);
        return document.RootElement.TryGetProperty("outcome", out var outcome) ? outcome.GetString() : null;
    }
}

/// <summary>Percentiles by the nearest-rank method.</summary>
internal static class Percentile
{
    public static double Of(IReadOnlyList<double> values, double percentile)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(percentile / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static string Format(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);
}

using StackExchange.Redis;

namespace Orchestrator.Jobs;

// Counting jobs by status for the jobs page, from the jobs index.
public sealed partial class JobStore
{
    /// <summary>
    /// The newest <paramref name="window"/> jobs of the index (every tenant's, or one's) counted by
    /// status. The ids read a page at a time, the statuses in pipelined chunks of single-field reads,
    /// not in one script, so a count never holds Redis for long; jobs past their retention are not counted.
    /// </summary>
    public async Task<JobCounts> CountJobsAsync(string? tenant, int window)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        // The newest of each partition's index, merged: the newest `window` of them all.
        var newest = await Task.WhenAll(_keys.All.Select(k => NewestAsync(tenant is null ? k.Jobs : k.TenantJobs(tenant), window))).ConfigureAwait(false);
        var ids = newest.Length == 1
            ? [.. newest[0].Select(static e => e.Element)]
            : newest.SelectMany(static e => e).OrderByDescending(static e => e.Score).Take(window).Select(static e => e.Element).ToArray();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        long examined = 0;
        foreach (var chunk in ids.Chunk(CountChunk))
        {
            var batch = Db.CreateBatch();
            var statuses = chunk.Select(id => batch.HashGetAsync(_keys.Job(id!), JobFields.Status)).ToArray();
            batch.Execute();
            foreach (var status in await Task.WhenAll(statuses).ConfigureAwait(false))
            {
                if (!status.IsNull)
                {
                    examined++;
                    counts[status!] = counts.GetValueOrDefault(status!) + 1;
                }
            }
        }

        return new JobCounts(counts, examined, window);
    }

    /// <summary>
    /// The newest <paramref name="window"/> ids of <paramref name="index"/>, read a page of
    /// <see cref="CountChunk"/> at a time: one read of the newest 10,000 held Redis 11.5 ms
    /// (measured). An id pushed into the next page by a submission meanwhile is counted once.
    /// </summary>
    private async Task<List<SortedSetEntry>> NewestAsync(RedisKey index, int window)
    {
        var entries = new List<SortedSetEntry>(Math.Min(window, CountChunk));
        var seen = new HashSet<RedisValue>();
        for (var start = 0; start < window; start += CountChunk)
        {
            var page = await Db.SortedSetRangeByRankWithScoresAsync(index, start, Math.Min(start + CountChunk, window) - 1, Order.Descending).ConfigureAwait(false);
            entries.AddRange(page.Where(e => seen.Add(e.Element)));
            if (page.Length < Math.Min(CountChunk, window - start))
            {
                break;
            }
        }

        return entries;
    }

    /// <summary>Statuses (and index ids) read per round trip while counting.</summary>
    private const int CountChunk = 500;
}

/// <summary>Jobs by status among the newest <paramref name="Window"/> of the jobs index.</summary>
/// <param name="ByStatus">Status → number of jobs.</param>
/// <param name="Counted">Jobs counted (ids whose job expired are not).</param>
/// <param name="Window">How many of the newest ids were looked at, at most.</param>
public sealed record JobCounts(IReadOnlyDictionary<string, long> ByStatus, long Counted, int Window);

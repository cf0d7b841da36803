using System.Buffers.Text;
using System.Globalization;
using System.Text;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

// Reading the dead-letter list, newest first, with an opaque keyset cursor (score + job id), so
// pages stay stable while new jobs are dead-lettered at the front.
public sealed partial class JobStore
{
    /// <summary>Whether <paramref name="cursor"/> is one this store handed out.</summary>
    public static bool IsValidDeadLetterCursor(string? cursor) => cursor is null || TryDecodeCursor(cursor, out _, out _);

    /// <summary>
    /// One page of dead-lettered jobs, newest first: at most <paramref name="limit"/> jobs, and no
    /// more than <paramref name="maxBytes"/> as <paramref name="sizeOf"/> measures them (the first job
    /// is always included, so paging moves on). Jobs are read in small chunks, so a page of large jobs
    /// holds little more than the bound in memory. Jobs past their retention are skipped.
    /// </summary>
    /// <param name="tenant">Only this tenant's dead letters; null for every tenant's.</param>
    public async Task<DeadLetterPage> ListDeadLettersAsync(
        int limit, string? cursor, string? tenant = null, long maxBytes = long.MaxValue, Func<Job, long>? sizeOf = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        double maxScore = double.PositiveInfinity;
        string? afterId = null;
        if (cursor is not null && !TryDecodeCursor(cursor, out maxScore, out afterId))
        {
            throw new ArgumentException("Malformed cursor.", nameof(cursor));
        }

        var set = tenant is null ? _keys.DeadLetters : _keys.TenantDeadLetters(tenant);

        // Members sharing the cursor's score sort in reverse lexical order; skip up to and including it.
        var ids = new List<SortedSetEntry>(limit + 1);
        var skip = 0;
        while (ids.Count <= limit)
        {
            var batchSize = limit + 1 + 16;
            var batch = await Db.SortedSetRangeByScoreWithScoresAsync(
                set, double.NegativeInfinity, maxScore, Exclude.None, Order.Descending, skip, batchSize).ConfigureAwait(false);
            foreach (var entry in batch)
            {
                var tied = afterId is not null && entry.Score == maxScore && string.CompareOrdinal(entry.Element!, afterId) >= 0;
                if (!tied)
                {
                    ids.Add(entry);
                }
            }

            if (batch.Length < batchSize)
            {
                break;
            }

            skip += batch.Length;
        }

        var page = ids.Take(limit).ToList();
        var jobs = new List<Job>(page.Count);
        long bytes = 0;
        for (var start = 0; start < page.Count; start += DeadLetterReadChunk)
        {
            var chunk = page.Skip(start).Take(DeadLetterReadChunk).ToList();
            var read = await Task.WhenAll(chunk.Select(e => GetAsync(e.Element!))).ConfigureAwait(false);
            for (var i = 0; i < read.Length; i++)
            {
                if (read[i] is not { } job)
                {
                    continue;
                }

                var size = sizeOf?.Invoke(job) ?? 0;
                if (jobs.Count > 0 && bytes + size > maxBytes)
                {
                    // Full: the next page starts at this job (the cursor names the last one consumed).
                    var last = start + i - 1;
                    return new DeadLetterPage(jobs, EncodeCursor(page[last].Score, page[last].Element!));
                }

                jobs.Add(job);
                bytes += size;
            }
        }

        var next = ids.Count > limit ? EncodeCursor(page[^1].Score, page[^1].Element!) : null;
        return new DeadLetterPage(jobs, next);
    }

    /// <summary>Dead-lettered jobs read per round trip while a page is filled.</summary>
    private const int DeadLetterReadChunk = 16;

    private static string EncodeCursor(double score, string jobId) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(
            $"{((long)score).ToString(CultureInfo.InvariantCulture)}:{jobId}"));

    private static bool TryDecodeCursor(string cursor, out double score, out string? jobId)
    {
        score = 0;
        jobId = null;
        if (cursor.Length > 128)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[128];
        if (Base64Url.DecodeFromChars(cursor, bytes, out _, out var written) != System.Buffers.OperationStatus.Done)
        {
            return false;
        }

        var text = Encoding.UTF8.GetString(bytes[..written]);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || !long.TryParse(text.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            || !JobIds.IsWellFormed(text[(colon + 1)..]))
        {
            return false;
        }

        score = ms;
        jobId = text[(colon + 1)..];
        return true;
    }
}

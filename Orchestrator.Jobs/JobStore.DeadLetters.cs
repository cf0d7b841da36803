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

    /// <summary>One page of dead-lettered jobs, newest first. Jobs past their retention are skipped.</summary>
    public async Task<DeadLetterPage> ListDeadLettersAsync(int limit, string? cursor)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        double maxScore = double.PositiveInfinity;
        string? afterId = null;
        if (cursor is not null && !TryDecodeCursor(cursor, out maxScore, out afterId))
        {
            throw new ArgumentException("Malformed cursor.", nameof(cursor));
        }

        // Members sharing the cursor's score sort in reverse lexical order; skip up to and including it.
        var ids = new List<SortedSetEntry>(limit + 1);
        var skip = 0;
        while (ids.Count <= limit)
        {
            var batchSize = limit + 1 + 16;
            var batch = await Db.SortedSetRangeByScoreWithScoresAsync(
                _keys.DeadLetters, double.NegativeInfinity, maxScore, Exclude.None, Order.Descending, skip, batchSize).ConfigureAwait(false);
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
        var jobs = await Task.WhenAll(page.Select(e => GetAsync(e.Element!))).ConfigureAwait(false);
        var next = ids.Count > limit ? EncodeCursor(page[^1].Score, page[^1].Element!) : null;
        return new DeadLetterPage([.. jobs.OfType<Job>()], next);
    }

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

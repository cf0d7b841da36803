using System.Buffers.Text;
using System.Globalization;
using System.Text;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

// Reading the dead-letter list and the jobs index, newest first, with an opaque keyset cursor (score + job id), so
// pages stay stable while new jobs arrive at the front.
public sealed partial class JobStore
{
    /// <summary>Whether <paramref name="cursor"/> is one this store handed out.</summary>
    public static bool IsValidDeadLetterCursor(string? cursor) => cursor is null || TryDecodeCursor(cursor, out _, out _);

    /// <summary>
    /// One page of dead-lettered jobs, newest first: at most <paramref name="limit"/> jobs, and no
    /// more than <paramref name="maxBytes"/> as <paramref name="sizeOf"/> measures them (the first job
    /// is always included, so paging moves on). Jobs are read in small chunks, so a page of large jobs
    /// holds little more than the bound in memory. Jobs past their retention are skipped, and counted
    /// towards <see cref="DeadLettersExamined"/>: a page may be short, with a cursor. The ids of those
    /// are dropped from the dead letters (the global set, and the tenant's when <paramref name="tenant"/>
    /// is given) once the page is read: the workers walk the global set, but a tenant's set was pruned
    /// only at its next dead letter and only up to the first job kept, so after a shorter
    /// <c>Api:JobRetention</c> its listing answered empty pages (an outside audit: 1,500 expired ids
    /// behind one kept). A read finds a job in a slot being moved (it follows the redirect), so only a
    /// job gone is dropped.
    /// </summary>
    /// <param name="tenant">Only this tenant's dead letters; null for every tenant's.</param>
    public async Task<DeadLetterPage> ListDeadLettersAsync(
        int limit, string? cursor, string? tenant = null, long maxBytes = long.MaxValue, Func<Job, long>? sizeOf = null)
    {
        var expired = new List<string>();
        var page = await ListAsync(k => tenant is null ? k.DeadLetters : k.TenantDeadLetters(tenant), limit, cursor, where: null, DeadLettersExamined,
            maxBytes, sizeOf, expired).ConfigureAwait(false);
        if (expired.Count > 0)
        {
            await Task.WhenAll(expired.GroupBy(id => _keys.ForJob(id)).Select(gone =>
            {
                RedisValue[] ids = [.. gone.Select(id => (RedisValue)id)];
                var sets = tenant is null ? [gone.Key.DeadLetters] : new[] { gone.Key.DeadLetters, gone.Key.TenantDeadLetters(tenant) };
                return Task.WhenAll(sets.Select(set => Db.SortedSetRemoveAsync(set, ids)));
            })).ConfigureAwait(false);
        }

        return page;
    }

    /// <summary>
    /// Dead letters one listing call examines at most. Those whose job expired stay in the sets until
    /// pruned, and were all read by each call (an outside audit: 25,000 expired ones, 0.45–1.4 s a page).
    /// </summary>
    public const int DeadLettersExamined = 1_000;

    /// <summary>
    /// One page of jobs, newest first, from the jobs index (the newest <see cref="ListedJobs"/> of
    /// every tenant and of each, per partition): those <paramref name="where"/> keeps, at most <paramref name="limit"/>.
    /// A filter that matches little could read the whole index, so one call examines at most
    /// <paramref name="maxExamined"/> ids and then hands out a cursor, even for a short page. A page
    /// also stops before <paramref name="maxBytes"/> as <paramref name="sizeOf"/> measures its jobs
    /// (the first is always included), as a page of dead letters does.
    /// </summary>
    /// <param name="tenant">Only this tenant's jobs; null for every tenant's.</param>
    public Task<DeadLetterPage> ListJobsAsync(
        int limit, string? cursor, string? tenant, Func<Job, bool>? where, int maxExamined, long maxBytes = long.MaxValue, Func<Job, long>? sizeOf = null) =>
        ListAsync(k => tenant is null ? k.Jobs : k.TenantJobs(tenant), limit, cursor, where, maxExamined, maxBytes, sizeOf, expired: null);

    /// <summary>How many job ids the jobs index keeps, globally and per tenant (submit.lua trims to it).</summary>
    public const int ListedJobs = 100_000;

    // With several partitions, the partitions' sets are merged in the one order (score, then id,
    // both descending), so the cursor (score, id) means the same whichever partition holds the id.
    // expired: collects the ids whose job is gone, when given.
    private async Task<DeadLetterPage> ListAsync(
        Func<RedisKeys, RedisKey> setOf, int limit, string? cursor, Func<Job, bool>? where, int maxExamined, long maxBytes, Func<Job, long>? sizeOf,
        List<string>? expired)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        double maxScore = double.PositiveInfinity;
        string? afterId = null;
        if (cursor is not null && !TryDecodeCursor(cursor, out maxScore, out afterId))
        {
            throw new ArgumentException("Malformed cursor.", nameof(cursor));
        }

        var merged = new MergedSets(Db, [.. _keys.All.Select(setOf)], maxScore, afterId, Math.Min(limit, 64) + 16);
        var jobs = new List<Job>(Math.Min(limit, 64));
        long bytes = 0;
        var examined = 0;
        (double Score, string JobId) consumed = default;
        var chunk = new List<SortedSetEntry>(ListReadChunk);
        while (true)
        {
            chunk.Clear();
            while (chunk.Count < ListReadChunk && await merged.NextAsync().ConfigureAwait(false) is { } next)
            {
                chunk.Add(next);
            }

            if (chunk.Count == 0)
            {
                return new DeadLetterPage(jobs, null);
            }

            var read = await Task.WhenAll(chunk.Select(e => GetAsync(e.Element!))).ConfigureAwait(false);
            for (var i = 0; i < read.Length; i++)
            {
                var entry = chunk[i];
                if (jobs.Count == limit || examined == maxExamined)
                {
                    // Full, or examined enough: the next page starts here (the cursor names the last one consumed).
                    return new DeadLetterPage(jobs, EncodeCursor(consumed));
                }

                examined++;
                if (read[i] is null)
                {
                    expired?.Add(entry.Element!);
                }

                if (read[i] is not { } job || where?.Invoke(job) == false)
                {
                    consumed = (entry.Score, entry.Element!);
                    continue;
                }

                var size = sizeOf?.Invoke(job) ?? 0;
                if (jobs.Count > 0 && bytes + size > maxBytes)
                {
                    return new DeadLetterPage(jobs, EncodeCursor(consumed));
                }

                jobs.Add(job);
                bytes += size;
                consumed = (entry.Score, entry.Element!);
            }
        }
    }

    /// <summary>Jobs read per round trip while a page is filled.</summary>
    private const int ListReadChunk = 16;

    private static string EncodeCursor((double Score, string JobId) position) => EncodeCursor(position.Score, position.JobId);

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

using System.Globalization;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

// What clients and operators do to a job besides submitting it (issue 19): cancel it, redrive it
// from the dead letters, and follow its events.
public sealed partial class JobStore
{
    /// <summary>
    /// Cancels a job: one that waits (queued, retrying) is canceled at once; one being processed is
    /// flagged and its worker told on <see cref="RedisKeys.CancelChannel"/>. Idempotent.
    /// </summary>
    public async Task<CancelOutcome> CancelAsync(string jobId) => (await CancelCountedAsync(jobId).ConfigureAwait(false)).Outcome;

    /// <summary>
    /// <see cref="CancelAsync"/>, whether this very call made the job canceled (false for a job
    /// canceled before, also by an earlier send of the same call whose reply was lost): what counts it
    /// once; and for <see cref="CancelOutcome.AlreadyFinal"/> the final status the script found (a read
    /// after it may find the job redriven since).
    /// </summary>
    public async Task<(CancelOutcome Outcome, bool CanceledNow, string? FinalStatus)> CancelCountedAsync(string jobId)
    {
        var partition = _keys.ForJob(jobId);
        var reply = (RedisResult[])(await LuaScripts.Cancel.EvaluateAsync(
            Db,
            [_keys.Job(jobId), _keys.History(jobId), partition.Stream, partition.DeadLetters],
            [RedisKeys.ConsumerGroup, partition.CancelChannel.ToString()]).ConfigureAwait(false))!;
        return (string)reply[0]! switch
        {
            "canceled" => (CancelOutcome.Canceled, reply.Length > 1, null),
            "requested" => (CancelOutcome.Requested, false, null),
            "final" => (CancelOutcome.AlreadyFinal, false, (string?)reply[1]),
            "missing" => (CancelOutcome.Missing, false, null),
            var other => throw new InvalidOperationException($"cancel.lua answered '{other}'."),
        };
    }

    /// <summary>
    /// Sends a dead-lettered job back to <c>queued</c> with a fresh attempt budget, its history kept,
    /// if it matches <paramref name="filter"/>. A job that is not failed is left alone (<see cref="RedriveOutcome.NotDead"/>),
    /// and so is one that has run <paramref name="maxAttemptsInAll"/> attempts or more (<see cref="RedriveOutcome.AttemptsSpent"/>).
    /// </summary>
    public async Task<RedriveOutcome> RedriveAsync(string jobId, RedriveFilter filter, long maxQueuedJobs = Unbounded, int? maxAttemptsInAll = null) =>
        (await RedriveCountedAsync(jobId, filter, maxQueuedJobs, maxAttemptsInAll).ConfigureAwait(false)).Outcome;

    /// <summary>
    /// <see cref="RedriveAsync"/>, with the jobs not yet final the script counted when it refused at the
    /// backlog bound (<see cref="RedriveOutcome.QueueFull"/>; with N partitions, the job's partition's),
    /// and for <see cref="RedriveOutcome.NotDead"/> the status the script found (a read after it may
    /// find the job failed again).
    /// </summary>
    public async Task<(RedriveOutcome Outcome, long QueuedJobs, string? Status)> RedriveCountedAsync(
        string jobId, RedriveFilter filter, long maxQueuedJobs = Unbounded, int? maxAttemptsInAll = null)
    {
        var reply = (RedisResult[])(await LuaScripts.Redrive.EvaluateAsync(
            Db,
            [_keys.Job(jobId), _keys.History(jobId), _keys.ForJob(jobId).Stream, _keys.ForJob(jobId).DeadLetters],
            [
                Partitions == 1 || maxQueuedJobs == Unbounded ? maxQueuedJobs : (maxQueuedJobs + Partitions - 1) / Partitions,
                filter.ErrorType ?? RedisValue.EmptyString,
                filter.From is { } from ? from.ToUnixTimeMilliseconds() : RedisValue.EmptyString,
                filter.To is { } to ? to.ToUnixTimeMilliseconds() : RedisValue.EmptyString,
                maxAttemptsInAll is { } most ? most : RedisValue.EmptyString,
            ]).ConfigureAwait(false))!;
        return (string)reply[0]! switch
        {
            "redriven" => (RedriveOutcome.Redriven, 0, null),
            "missing" => (RedriveOutcome.Missing, 0, null),
            "not-dead" => (RedriveOutcome.NotDead, 0, (string?)reply[1]),
            "skipped" => (RedriveOutcome.Skipped, 0, null),
            "queue-full" => (RedriveOutcome.QueueFull, (long)reply[1], null),
            "storage-full" => (RedriveOutcome.StorageFull, 0, null),
            "attempts-spent" => (RedriveOutcome.AttemptsSpent, 0, null),
            var other => throw new InvalidOperationException($"redrive.lua answered '{other}'."),
        };
    }

    /// <summary>
    /// Dead-lettered job ids, oldest first, dead-lettered within [<paramref name="from"/>,
    /// <paramref name="to"/>] and after the member <paramref name="after"/> (exclusive, for paging;
    /// null to start), at most <paramref name="count"/>, with their scores. With several partitions
    /// each partition's page is read and the pages merged in the same order (score, then id).
    /// </summary>
    public async Task<IReadOnlyList<(string JobId, long DeadAt)>> DeadLetterIdsAsync(
        string? tenant, DateTimeOffset? from, DateTimeOffset? to, (long Score, string JobId)? after, int count)
    {
        if (Partitions == 1)
        {
            return await DeadLetterIdsAsync(_keys, tenant, from, to, after, count).ConfigureAwait(false);
        }

        var pages = await Task.WhenAll(_keys.All.Select(k => DeadLetterIdsAsync(k, tenant, from, to, after, count))).ConfigureAwait(false);
        return [.. pages.SelectMany(static p => p)
            .OrderBy(static e => e.DeadAt)
            .ThenBy(static e => e.JobId, StringComparer.Ordinal)
            .Take(count)];
    }

    private async Task<List<(string JobId, long DeadAt)>> DeadLetterIdsAsync(
        RedisKeys keys, string? tenant, DateTimeOffset? from, DateTimeOffset? to, (long Score, string JobId)? after, int count)
    {
        var set = tenant is null ? keys.DeadLetters : keys.TenantDeadLetters(tenant);
        var min = after?.Score ?? from?.ToUnixTimeMilliseconds() ?? long.MinValue;
        var max = to?.ToUnixTimeMilliseconds() ?? long.MaxValue;
        var result = new List<(string, long)>(count);
        var skip = 0;
        while (result.Count < count)
        {
            var take = count + 16;
            var page = await Db.SortedSetRangeByScoreWithScoresAsync(set, min, max, Exclude.None, Order.Ascending, skip, take).ConfigureAwait(false);
            foreach (var entry in page)
            {
                // Members tied on the cursor's score sort by id: skip up to and including the cursor.
                if (after is { } cursor && (long)entry.Score == cursor.Score && string.CompareOrdinal(entry.Element!, cursor.JobId) <= 0)
                {
                    continue;
                }

                result.Add((entry.Element!, (long)entry.Score));
                if (result.Count == count)
                {
                    break;
                }
            }

            if (page.Length < take)
            {
                break;
            }

            skip += page.Length;
        }

        return result;
    }

    /// <summary>
    /// Appends text the provider streamed during an attempt to the job's events (fenced by lease and
    /// attempt; <paramref name="batch"/> numbers the appends of one attempt, so a re-send is not
    /// appended twice). False when the lease or attempt is stale.
    /// </summary>
    public async Task<bool> AppendDeltaAsync(JobLease lease, int attempt, int batch, string text) =>
        (await AppendDeltasAsync([new DeltaAppend(lease, attempt, batch, text)]).ConfigureAwait(false))[0];

    /// <summary>
    /// <see cref="AppendDeltaAsync"/> for many jobs' batches in one script (one per partition), each
    /// its own fenced append. The answers are in the order of <paramref name="appends"/>.
    /// </summary>
    public async Task<bool[]> AppendDeltasAsync(IReadOnlyList<DeltaAppend> appends) => appends.Count == 0
        ? []
        : await ByPartitionAsync(appends, static a => a.Lease.JobId, (_, part) => AppendDeltasOfOnePartitionAsync(part)).ConfigureAwait(false);

    // The job keys carry their partition's hash tag: the partition's own keys are not needed here.
    private async Task<bool[]> AppendDeltasOfOnePartitionAsync(IReadOnlyList<DeltaAppend> appends)
    {
        var keys = new RedisKey[appends.Count];
        var values = new RedisValue[4 * appends.Count];
        for (var i = 0; i < appends.Count; i++)
        {
            var append = appends[i];
            keys[i] = _keys.Job(append.Lease.JobId);
            values[4 * i] = append.Lease.Token;
            values[(4 * i) + 1] = append.Attempt;
            values[(4 * i) + 2] = append.Batch;
            values[(4 * i) + 3] = append.Text;
        }

        var replies = (RedisResult[])(await LuaScripts.AppendDelta.EvaluateAsync(Db, keys, values).ConfigureAwait(false))!;
        return [.. replies.Select(r => (long)r == 1)];
    }

    /// <summary>
    /// Up to <paramref name="count"/> of the job's events after <paramref name="afterId"/> (exclusive:
    /// an event id, or <see cref="FirstEventId"/> for all), in order. A job whose events began before
    /// they moved into a list has its first ones in a stream (<see cref="RedisKeys.LegacyEvents"/>),
    /// with the stream's ids; read-events.lua reads them before the list. None when
    /// <paramref name="afterId"/> is later than the job's last event.
    /// </summary>
    public async Task<IReadOnlyList<JobEvent>> ReadEventsAsync(string jobId, string afterId, int count) =>
        await TryReadEventsAsync(jobId, afterId, count).ConfigureAwait(false) ?? [];

    /// <summary>
    /// As <see cref="ReadEventsAsync"/>, but null when <paramref name="afterId"/> is later than the
    /// job's last event (checked in the same step as the read): no client can have seen that id, as
    /// events are only appended, so it is not one this job's stream sent.
    /// </summary>
    public async Task<IReadOnlyList<JobEvent>?> TryReadEventsAsync(string jobId, string afterId, int count) =>
        (await TryReadEventPageAsync(jobId, afterId, count, maxBytes: null).ConfigureAwait(false))?.Events;

    /// <summary>
    /// As <see cref="TryReadEventsAsync"/>, with the events past the first bounded to about
    /// <paramref name="maxBytes"/> of stored text when given (the page says when it left some out).
    /// </summary>
    public async Task<EventPage?> TryReadEventPageAsync(string jobId, string afterId, int count, int? maxBytes)
    {
        RedisValue[] args = maxBytes is { } bound ? [afterId, count, bound] : [afterId, count];
        var reply = (RedisResult[])(await LuaScripts.ReadEvents.EvaluateAsync(Db,
            [_keys.Job(jobId), _keys.Events(jobId), _keys.LegacyEvents(jobId)], args).ConfigureAwait(false))!;
        if ((long)reply[3] == 0)
        {
            return null;
        }

        var legacy = (RedisResult[])reply[0]!;
        var first = (long)reply[1];
        var elements = (RedisResult[])reply[2]!;
        var events = new JobEvent[legacy.Length + elements.Length];
        for (var i = 0; i < legacy.Length; i++)
        {
            events[i] = JobEventElements.FromStreamEntry((RedisResult[])legacy[i]!);
        }

        for (var i = 0; i < elements.Length; i++)
        {
            events[legacy.Length + i] = JobEventElements.Parse((first + i).ToString(CultureInfo.InvariantCulture), (string)elements[i]!);
        }

        return new EventPage(events, More: events.Length == count || (long)reply[4] == 1);
    }

    /// <summary>The id before a job's first event: read from it to read them all.</summary>
    public const string FirstEventId = "0";

    /// <summary>
    /// The largest number in an event id, 2^53 − 1: read-events.lua reads an id as a Lua number (a
    /// double, exact only up to there), and no job counts that many events nor has a stream entry that
    /// late. A larger one reached Redis as an index it refuses ("1e+17") or as the one stream id no
    /// exclusive range can start after: the read failed, a 500.
    /// </summary>
    public const ulong MaxEventNumber = (1UL << 53) - 1;

    /// <summary>The longest event id: two numbers of up to 16 digits (<see cref="MaxEventNumber"/>) and a dash.</summary>
    public const int MaxEventIdLength = 33;

    /// <summary>
    /// Whether <paramref name="id"/> is an event id, as an SSE <c>Last-Event-ID</c> must be: an event's
    /// number (<c>1</c>, <c>2</c>, …) or a stream entry id (<c>&lt;ms&gt;-&lt;seq&gt;</c>) of a job whose
    /// events began in a stream; no number above <see cref="MaxEventNumber"/>.
    /// </summary>
    public static bool IsEventId(string id)
    {
        if (id.Length is 0 or > MaxEventIdLength)
        {
            return false;
        }

        var dash = id.IndexOf('-', StringComparison.Ordinal);
        return dash < 0
            ? IsEventNumber(id)
            : dash > 0 && IsEventNumber(id.AsSpan(0, dash)) && IsEventNumber(id.AsSpan(dash + 1));
    }

    private static bool IsEventNumber(ReadOnlySpan<char> text) =>
        ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number <= MaxEventNumber;
}

using System.Globalization;
using System.Text.Json;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>
/// Owns every Redis command of the job system. Multi-key changes are Lua scripts
/// (<c>Scripts/*.lua</c>); every state transition is a compare-and-set on the expected state
/// and, for workers, on the lease token. Every time a script writes is read from Redis's own clock
/// (<c>TIME</c>): the callers' clocks may be skewed. <paramref name="permits"/>: the tenants'
/// concurrency limits the scripts that start attempts enforce (none unless given; the worker
/// registers them).
/// </summary>
public sealed partial class JobStore(IConnectionMultiplexer redis, RedisKeys? keys = null, TenantPermits? permits = null)
{
    private readonly RedisKeys _keys = keys ?? new RedisKeys();

    private readonly TenantPermits _permits = permits ?? TenantPermits.None;

    private IDatabase Db => redis.GetDatabase();

    /// <summary>The key schema this store uses.</summary>
    public RedisKeys Keys => _keys;

    /// <summary>No bound on the backlog: for callers that are not the API (tests, tools).</summary>
    public const long Unbounded = long.MaxValue;

    /// <summary>
    /// Creates and enqueues a job in one script; with an idempotency key, answers instead for the
    /// job the key already created (or reports the conflict) without creating anything. Creates
    /// nothing either when <paramref name="maxQueuedJobs"/> jobs are not yet final
    /// (<see cref="SubmitOutcome.QueueFull"/>), when a quota of the job's tenant (<see cref="NewJob.Quotas"/>)
    /// is used up (<see cref="SubmitOutcome.QuotaExceeded"/>), or when Redis is at its memory limit
    /// (<see cref="SubmitOutcome.StorageFull"/>); an idempotent replay is answered in both cases.
    /// </summary>
    public async Task<SubmitResult> SubmitAsync(NewJob job, IdempotencyClaim? idempotency, long maxQueuedJobs = Unbounded)
    {
        // Not a batch of one: a batch fails at once while the client is disconnected, whatever its
        // backlog policy, where this call waits for the reconnect as the connection is configured
        // to; and only a direct call's Redis span is a child of the caller's span.
        var others = await OtherPartitionsBacklogAsync(job).ConfigureAwait(false);
        var (keys, values) = SubmitArguments(job, idempotency, maxQueuedJobs, others);
        return SubmitResultOf(await LuaScripts.Submit.EvaluateAsync(Db, keys, values).ConfigureAwait(false), job);
    }

    /// <summary>
    /// <see cref="SubmitAsync"/> for many jobs in one round trip: each its own script call, pipelined
    /// and sent in one write. Each submission gets its own answer, in the order of
    /// <paramref name="submissions"/>: one that fails (its task faults) does not fail the others. While
    /// the client is disconnected every call fails at once (a batch is never backlogged), as a
    /// fail-fast connection does for a single call.
    /// </summary>
    public Task<SubmitResult>[] SubmitManyAsync(
        IReadOnlyList<(NewJob Job, IdempotencyClaim? Idempotency)> submissions, long maxQueuedJobs = Unbounded)
    {
        var batch = Db.CreateBatch();
        var replies = new Task<SubmitResult>[submissions.Count];
        for (var i = 0; i < replies.Length; i++)
        {
            var job = submissions[i].Job;
            if (NeedsOtherPartitionsBacklog(job))
            {
                // Its check needs the tenant's jobs in the other partitions first: sent on its own.
                replies[i] = SubmitAsync(job, submissions[i].Idempotency, maxQueuedJobs);
                continue;
            }

            var (keys, values) = SubmitArguments(job, submissions[i].Idempotency, maxQueuedJobs, othersQueued: 0);
            replies[i] = SubmitResultOfAsync(LuaScripts.Submit.EvaluateAsync(batch, keys, values, resendOn: Db), job);
        }

        batch.Execute();
        return replies;
    }

    private static async Task<SubmitResult> SubmitResultOfAsync(Task<RedisResult> reply, NewJob job) =>
        SubmitResultOf(await reply.ConfigureAwait(false), job);

    private (RedisKey[] Keys, RedisValue[] Values) SubmitArguments(NewJob job, IdempotencyClaim? idempotency, long maxQueuedJobs, long othersQueued)
    {
        var partition = _keys.ForJob(job.Id);
        if (idempotency is not null && Partitions > 1
            && JobPartitions.OfIdempotencyKey(job.Tenant, idempotency.Key, Partitions) != partition.Partition)
        {
            throw new ArgumentException("A job submitted with an idempotency key needs an id of the key's partition (JobStore.NewJobId).", nameof(job));
        }

        RedisKey[] keys = idempotency is null
            ? [_keys.Job(job.Id), partition.Stream, partition.Delayed, partition.TenantBacklog(job.Tenant), partition.TenantRate(job.Tenant)]
            : [_keys.Job(job.Id), partition.Stream, partition.Delayed, partition.TenantBacklog(job.Tenant), partition.TenantRate(job.Tenant), partition.Idempotency(job.Tenant, idempotency.Key)];

        var values = new List<RedisValue>(32)
        {
            job.Id,
            idempotency?.Fingerprint ?? RedisValue.EmptyString,
            idempotency is null ? 0 : (long)idempotency.Ttl.TotalMilliseconds,
            // The backlog bound bounds each partition's share: a partition is one master's memory.
            Partitions == 1 || maxQueuedJobs == Unbounded ? maxQueuedJobs : (maxQueuedJobs + Partitions - 1) / Partitions,
            job.Quotas?.MaxQueuedJobs ?? 0,
            // The rate is split evenly: each partition admits RequestsPerMinute / N a minute.
            job.Quotas?.RequestsPerMinute is { } rpm and > 0 && Partitions > 1
                ? (RedisValue)((double)rpm / Partitions).ToString("R", CultureInfo.InvariantCulture)
                : (RedisValue)(job.Quotas?.RequestsPerMinute ?? 0),
            othersQueued,
        };
        AddField(values, JobFields.Id, job.Id);
        AddField(values, JobFields.Tenant, job.Tenant);
        AddField(values, JobFields.Status, JobStatus.Queued);
        AddField(values, JobFields.Prompt, job.Request.Prompt);
        AddField(values, JobFields.Model, job.Request.Model);
        AddField(values, JobFields.MaxTokens, job.Request.MaxTokens?.ToString(CultureInfo.InvariantCulture));
        AddField(values, JobFields.Temperature, job.Request.Temperature?.ToString("R", CultureInfo.InvariantCulture));
        if (job.Request.Metadata is { Count: > 0 } metadata)
        {
            AddField(values, JobFields.Metadata, JobMetadata.ToJson(metadata));
        }

        if (job.Request.FallbackModels is { Count: > 0 } fallbacks)
        {
            AddField(values, JobFields.FallbackModels, JsonSerializer.Serialize(fallbacks, JobsJsonContext.Default.IReadOnlyListString));
        }

        AddField(values, JobFields.Attempts, "0");
        AddField(values, JobFields.MaxAttempts, job.MaxAttempts.ToString(CultureInfo.InvariantCulture));
        AddField(values, JobFields.RetentionMs, ((long)job.Retention.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        AddField(values, JobFields.TraceParent, job.TraceParent);
        AddField(values, JobFields.TraceState, job.TraceState);
        AddField(values, JobFields.CallbackUrl, job.Request.CallbackUrl);
        // Only when not normal: a job without the field is normal (and so are jobs stored before priorities).
        AddField(values, JobFields.Priority, job.Request.Priority is JobPriority.Normal ? null : job.Request.Priority);
        return (keys, [.. values]);
    }

    private static SubmitResult SubmitResultOf(RedisResult result, NewJob job)
    {
        var reply = (RedisResult[])result!;
        return (string)reply[0]! switch
        {
            "created" => new SubmitResult(SubmitOutcome.Created, (string)reply[1]!, UnixMs(reply[2])),
            "replayed" => (string?)reply[2] is { Length: > 0 }
                ? new SubmitResult(SubmitOutcome.Replayed, (string)reply[1]!, UnixMs(reply[2]))
                : new SubmitResult(SubmitOutcome.Replayed, (string)reply[1]!, ReplayedResponseBody: (string?)reply[3]),
            "conflict" => new SubmitResult(SubmitOutcome.Conflict, (string)reply[1]!),
            "queue-full" => new SubmitResult(SubmitOutcome.QueueFull, string.Empty, QueuedJobs: (long)reply[1]),
            "storage-full" => new SubmitResult(SubmitOutcome.StorageFull, string.Empty),
            "quota-exceeded" => new SubmitResult(SubmitOutcome.QuotaExceeded, string.Empty)
            {
                // The limit as configured (a partition's script sees its share of the rate).
                Quota = new QuotaRefusal(
                    (string)reply[1]!,
                    (string)reply[1]! == QuotaRefusal.RequestsPerMinute && job.Quotas?.RequestsPerMinute is { } rpm ? rpm : (long)reply[2],
                    TimeSpan.FromMilliseconds((long)reply[3])),
            },
            var other => throw new InvalidOperationException($"submit.lua answered '{other}'."),
        };
    }

    /// <summary>The job with this id, or null when it is unknown or has expired.</summary>
    public async Task<Job?> GetAsync(string jobId)
    {
        var batch = Db.CreateBatch();
        var hash = batch.HashGetAllAsync(_keys.Job(jobId));
        var history = batch.ListRangeAsync(_keys.History(jobId));
        batch.Execute();
        var fields = await hash.ConfigureAwait(false);
        if (fields.Length == 0)
        {
            return null;
        }

        var job = JobParser.Parse(fields, await history.ConfigureAwait(false));
        return job.WebhookCount == 0 ? job : job with { Webhooks = await GetWebhooksAsync(job).ConfigureAwait(false) };
    }

    /// <summary>How many entries wait in the stream, are in progress, and are dead-lettered (summed over the partitions).</summary>
    public async Task<QueueStats> GetStatsAsync()
    {
        var total = new QueueStats(0, 0, 0, 0);
        foreach (var partition in await Task.WhenAll(_keys.All.Select(GetStatsAsync)).ConfigureAwait(false))
        {
            total = new QueueStats(
                total.StreamLength + partition.StreamLength, total.Pending + partition.Pending,
                total.DeadLetters + partition.DeadLetters, total.Delayed + partition.Delayed, total.Ready + partition.Ready);
        }

        return total;
    }

    /// <summary>
    /// Drops dead letters whose job has expired, looking at most at <paramref name="limit"/> of each
    /// partition's set from its cursor (<c>prune-expired.lua</c>): the set is otherwise pruned only
    /// when the next job is dead-lettered.
    /// </summary>
    /// <returns>The members dropped and looked at, over all partitions; <c>More</c>: a partition's page was full and dropped some (a backlog of expired ones).</returns>
    public Task<(long Dropped, long Looked, bool More)> PruneDeadLettersAsync(int limit) => PruneExpiredAsync(k => k.DeadLetters, limit, "job");

    /// <summary>
    /// Walks each partition's <paramref name="setOf"/> from its cursor, <paramref name="limit"/>
    /// members at most, dropping those whose <paramref name="kind"/> record has expired (<c>prune-expired.lua</c>).
    /// </summary>
    private async Task<(long Dropped, long Looked, bool More)> PruneExpiredAsync(Func<RedisKeys, RedisKey> setOf, int limit, string kind)
    {
        var replies = await Task.WhenAll(_keys.All.Select(k =>
            LuaScripts.PruneExpired.EvaluateAsync(Db, [setOf(k), k.SlotSettled, k.PruneCursors], [limit, kind]))).ConfigureAwait(false);
        return (replies.Sum(r => (long)r[0]), replies.Sum(r => (long)r[1]), replies.Any(r => (long)r[0] > 0 && (long)r[1] == limit));
    }

    /// <summary>Reads Redis's clock into <paramref name="clock"/> (<see cref="StoreClock.SyncAsync"/>).</summary>
    public Task SyncClockAsync(StoreClock clock) => clock.SyncAsync(Db);

    /// <summary>
    /// Drops ids whose job has expired from each partition's jobs index, the global set and up to
    /// <paramref name="tenants"/> registered tenants' sets, looking at most at <paramref name="page"/>
    /// ids of each tenant's set and <paramref name="globalPage"/> of the global set (all of
    /// <paramref name="page"/> when not given) from its cursor (<c>prune-index.lua</c>): the sets are
    /// otherwise trimmed only by their count bound.
    /// </summary>
    /// <returns>The ids dropped and the ids looked at, over all partitions.</returns>
    public async Task<(long Dropped, long Looked)> PruneJobsIndexAsync(int page, int tenants, int? globalPage = null)
    {
        var replies = await Task.WhenAll(_keys.All.Select(k =>
            LuaScripts.PruneIndex.EvaluateAsync(Db, [k.IndexCursors, k.SlotSettled], [page, tenants, globalPage ?? page]))).ConfigureAwait(false);
        return (replies.Sum(r => (long)r[0]), replies.Sum(r => (long)r[1]));
    }

    private async Task<QueueStats> GetStatsAsync(RedisKeys keys)
    {
        var batch = Db.CreateBatch();
        var length = batch.StreamLengthAsync(keys.Stream);
        var pending = batch.ExecuteAsync("XPENDING", keys.Stream, RedisKeys.ConsumerGroup);
        var dead = batch.SortedSetLengthAsync(keys.DeadLetters);
        var delayed = batch.SortedSetLengthAsync(keys.Delayed);
        var ready = batch.HashGetAsync(keys.DispatchState, "ready");
        batch.Execute();

        long pendingCount = 0;
        try
        {
            var summary = (RedisResult[])(await pending.ConfigureAwait(false))!;
            pendingCount = (long)summary[0];
        }
        catch (RedisServerException)
        {
            // No consumer group yet: no worker has started, so nothing is pending.
        }

        return new QueueStats(
            await length.ConfigureAwait(false), pendingCount, await dead.ConfigureAwait(false), await delayed.ConfigureAwait(false), (long)await ready.ConfigureAwait(false));
    }

    /// <summary>
    /// Whether submitting <paramref name="job"/> reads every partition (its tenant's <c>MaxQueuedJobs</c>
    /// counts the other partitions' jobs first), so waits for every master, not only its own.
    /// </summary>
    public bool NeedsOtherPartitionsBacklog(NewJob job) => Partitions > 1 && job.Quotas?.MaxQueuedJobs > 0;

    /// <summary>
    /// The job's tenant's jobs not yet final in the partitions other than the job's: its
    /// <c>MaxQueuedJobs</c> holds fleet-wide, so the script adds them to its own partition's count.
    /// Read just before the script, not in it (other slots): concurrent submissions of one tenant to
    /// different partitions may each miss the others', so the quota can be passed by as many.
    /// </summary>
    private async Task<long> OtherPartitionsBacklogAsync(NewJob job)
    {
        if (!NeedsOtherPartitionsBacklog(job))
        {
            return 0;
        }

        var own = _keys.ForJob(job.Id).Partition;
        var counts = await Task.WhenAll(_keys.All.Where(k => k.Partition != own)
            .Select(k => Db.HashGetAsync(k.TenantBacklog(job.Tenant), "jobs"))).ConfigureAwait(false);
        return counts.Sum(c => c.IsNull ? 0 : Math.Max(0, (long)c));
    }

    private static DateTimeOffset UnixMs(RedisResult value) => DateTimeOffset.FromUnixTimeMilliseconds((long)value);

    private static void AddField(List<RedisValue> values, string field, string? value)
    {
        if (value is not null)
        {
            values.Add(field);
            values.Add(value);
        }
    }
}

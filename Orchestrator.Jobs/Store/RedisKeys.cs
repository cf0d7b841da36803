using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>
/// Every Redis key the orchestrator uses. With one partition (<c>Jobs:Partitions</c> = 1, the
/// default) all keys share the hash tag <c>{orch}</c>: one slot for the whole job system. With N
/// partitions each partition's job-system keys carry <c>{orch:p}</c> (<see cref="For"/>,
/// <see cref="ForJob"/>), so every multi-key script still touches one slot; the keys that are not
/// per job (<see cref="Meta"/>, the LLM flow control) stay under <c>{orch}</c>.
/// </summary>
public sealed class RedisKeys
{
    private readonly string _prefix;
    private readonly RedisKeys[] _partitions;

    /// <summary>The keys of <paramref name="partitions"/> partitions under <paramref name="prefix"/> (a hash tag, <c>{name}</c>).</summary>
    public RedisKeys(string prefix = DefaultPrefix, int partitions = 1)
        : this(prefix, partitions, partition: -1)
    {
    }

    private RedisKeys(string prefix, int partitions, int partition)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(partitions, JobPartitions.Max);
        _prefix = prefix;
        Partitions = partitions;
        Partition = Math.Max(partition, 0);
        Stream = $"{prefix}:stream";
        Delayed = $"{prefix}:delayed";
        DeadLetters = $"{prefix}:dead";
        Jobs = $"{prefix}:jobs";
        IndexCursors = $"{prefix}:index-cursors";
        PruneCursors = $"{prefix}:prune-cursors";
        EventsChannel = RedisChannel.Literal($"{prefix}:events");
        CancelChannel = RedisChannel.Literal($"{prefix}:cancel");
        WebhookOutbox = $"{prefix}:webhooks";
        ActiveTenants = $"{prefix}:tenants";
        HeldTenants = $"{prefix}:tenants:held";
        DispatchState = $"{prefix}:dispatch";
        ReadyChannel = RedisChannel.Literal($"{prefix}:ready");
        CheckChannel = RedisChannel.Literal($"{prefix}:check");
        if (partition >= 0 || partitions == 1)
        {
            // One partition: the root's own keys are partition 0's, exactly the layout before partitions.
            _partitions = partition >= 0 ? [] : [this];
            return;
        }

        if (!prefix.EndsWith('}'))
        {
            throw new ArgumentException("With more than one partition the prefix must be a hash tag, '{name}'.", nameof(prefix));
        }

        _partitions = new RedisKeys[partitions];
        for (var p = 0; p < partitions; p++)
        {
            _partitions[p] = new RedisKeys($"{prefix[..^1]}:{p.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}", partitions, p);
        }
    }

    /// <summary>The default key prefix, including the cluster hash tag.</summary>
    public const string DefaultPrefix = "{orch}";

    /// <summary>The prefix every key of this key set starts with (the LLM flow-control keys use the root's).</summary>
    public string Prefix => _prefix;

    /// <summary>How many partitions the job system has (<c>Jobs:Partitions</c>).</summary>
    public int Partitions { get; }

    /// <summary>Which partition these keys are (0 for the root with one partition).</summary>
    public int Partition { get; }

    /// <summary>
    /// The keys of partition <paramref name="partition"/>; with one partition, these very keys. Only
    /// the root (the instance built by the public constructor) has partitions.
    /// </summary>
    public RedisKeys For(int partition) => _partitions[partition];

    /// <summary>The keys of the partition that holds <paramref name="jobId"/> (<see cref="JobPartitions.Of"/>).</summary>
    public RedisKeys ForJob(string jobId) => _partitions[JobPartitions.Of(jobId, Partitions)];

    /// <summary>Every partition's keys, partition 0 first.</summary>
    public IReadOnlyList<RedisKeys> All => _partitions;

    /// <summary>
    /// The layout's record (hash, field <c>partitions</c> = N), under the root prefix: a service
    /// configured with another N refuses to start (see <c>JobStore.CheckPartitionsAsync</c>).
    /// </summary>
    public RedisKey Meta => $"{_prefix}:meta";

    /// <summary>
    /// A key never written, declared by the scripts that take a record's absence for its expiry
    /// (<c>prune-index.lua</c>, <c>prune-expired.lua</c>, <c>claim-webhooks.lua</c>). While Redis
    /// Cluster moves this slot, its keys go one by one: such a script, sent on to the node taking
    /// the slot, found ids whose records had not come yet and dropped them as expired (an outside
    /// audit: a partition's jobs index emptied, 1,830 of 1,830 ids). A script declaring a key that is
    /// in neither node is refused (<c>TRYAGAIN</c>) until the move ends, and runs as before after it.
    /// </summary>
    public RedisKey SlotSettled => $"{_prefix}:slot-settled";

    /// <summary>The workers' lease timeouts (<c>fleet-lease.lua</c>), in the slot of <see cref="Meta"/>.</summary>
    public RedisKey FleetLeases => $"{_prefix}:meta:leases";

    /// <summary>The consumer group every worker reads the jobs stream through.</summary>
    public const string ConsumerGroup = "workers";

    /// <summary>The stream of job ids waiting to be processed (a consumer group gives acks and pending lists).</summary>
    public RedisKey Stream { get; }

    /// <summary>
    /// Jobs waiting out a retry delay or a wait for their deployment away from the stream, scored by
    /// the time (Unix ms, Redis clock) they are due; <c>promote.lua</c> gives each a new entry then.
    /// </summary>
    public RedisKey Delayed { get; }

    /// <summary>Dead-lettered job ids of every tenant, scored by the time (Unix ms) they were dead-lettered.</summary>
    public RedisKey DeadLetters { get; }

    /// <summary>
    /// One tenant's dead-lettered job ids, beside <see cref="DeadLetters"/> (same members and scores).
    /// The scripts that dead-letter derive it as <c>KEYS[dead] .. ':' .. tenant</c>.
    /// </summary>
    public RedisKey TenantDeadLetters(string tenant) => $"{_prefix}:dead:{CheckTenant(tenant)}";

    /// <summary>Every tenant's job ids by creation time (Unix ms), the newest <c>JobStore.ListedJobs</c>: the jobs listing.</summary>
    public RedisKey Jobs { get; }

    /// <summary>
    /// One tenant's job ids, beside <see cref="Jobs"/> (same members and scores). submit.lua
    /// derives it as <c>KEYS[stream]</c> with <c>:stream</c> replaced by <c>:jobs:</c> and the tenant.
    /// </summary>
    public RedisKey TenantJobs(string tenant) => $"{_prefix}:jobs:{CheckTenant(tenant)}";

    /// <summary>
    /// The jobs index's pruning cursors (prune-index.lua), a hash: <c>*</c> for <see cref="Jobs"/>, a
    /// tenant for its <see cref="TenantJobs"/>. submit.lua derives it from <c>KEYS[stream]</c>.
    /// </summary>
    public RedisKey IndexCursors { get; }

    /// <summary>
    /// The cursors of the walks that prune the dead letters and the webhook outbox (prune-expired.lua),
    /// a hash: <c>dead</c>, <c>webhooks</c> → the score the next look starts at.
    /// </summary>
    public RedisKey PruneCursors { get; }

    // The keys of one job (Job, History, Events, Webhook, WebhookAttempts) and Idempotency are
    // routed by the root to their partition, so callers may ask the root for them.

    /// <summary>The hash holding one job's state.</summary>
    public RedisKey Job(string jobId) => $"{Home(jobId)._prefix}:job:{jobId}";

    /// <summary>
    /// The list that held one job's attempts (one JSON object per attempt, in order) before they moved
    /// into the job's hash; kept for the jobs whose attempts started before (includes/job.lua [history]).
    /// </summary>
    public RedisKey History(string jobId) => $"{Home(jobId)._prefix}:job:{jobId}:attempts";

    /// <summary>
    /// One job's events (issue 19): a list of at most <see cref="MaxEventsPerJob"/> elements,
    /// <c>status …</c> | <c>delta …</c> | <c>done …</c>; it expires with the job. The scripts derive it
    /// as <c>KEYS[job] .. ':eventlog'</c> (includes/job.lua, job events).
    /// </summary>
    public RedisKey Events(string jobId) => $"{Home(jobId)._prefix}:job:{jobId}:eventlog";

    /// <summary>
    /// One job's events as a stream, where they were kept before the list (<see cref="Events"/>): read
    /// before the list, expired and persisted with the job, never written.
    /// </summary>
    public RedisKey LegacyEvents(string jobId) => $"{Home(jobId)._prefix}:job:{jobId}:events";

    /// <summary>Most events a job's <see cref="Events"/> list keeps (EVENTS_MAXLEN in <c>includes/job.lua</c>).</summary>
    public const int MaxEventsPerJob = 1000;

    /// <summary>Where every job event is announced: the message is <c>'&lt;job id&gt; &lt;type&gt;'</c>.</summary>
    public RedisChannel EventsChannel { get; }

    /// <summary>Where cancellations of processing jobs are announced to the workers: the message is the job id.</summary>
    public RedisChannel CancelChannel { get; }

    /// <summary>
    /// The hash remembering which job a tenant's idempotency key created, and with what request. A
    /// tenant name holds no <c>:</c> (<see cref="TenantNames"/>), so the tenant segment ends at the
    /// first colon and no tenant's key can equal another tenant's, whatever the key holds.
    /// </summary>
    public RedisKey Idempotency(string tenant, string key) =>
        $"{(_partitions.Length > 1 ? For(JobPartitions.OfIdempotencyKey(tenant, key, Partitions)) : this)._prefix}:idem:{CheckTenant(tenant)}:{key}";

    /// <summary>The webhook outbox: delivery ids not yet delivered or given up, scored by when the next try is due (Unix ms).</summary>
    public RedisKey WebhookOutbox { get; }

    /// <summary>One webhook delivery (<c>&lt;jobId&gt;.&lt;n&gt;</c>): its payload fields and progress. finalize in job.lua writes the same name.</summary>
    public RedisKey Webhook(string deliveryId) => $"{Home(JobOfDelivery(deliveryId))._prefix}:webhook:{deliveryId}";

    /// <summary>The tries of one webhook delivery, one JSON object each, the last 20.</summary>
    public RedisKey WebhookAttempts(string deliveryId) => $"{Home(JobOfDelivery(deliveryId))._prefix}:webhook:{deliveryId}:attempts";

    /// <summary>
    /// One tenant's backlog (hash: <c>jobs</c> not yet final, <c>lastFinalAt</c>, <c>finalEveryMs</c>):
    /// incremented by <c>submit.lua</c>, decremented once per job by <c>finalize</c> (includes/job.lua),
    /// which derives it from the job key's prefix and the job's tenant.
    /// </summary>
    public RedisKey TenantBacklog(string tenant) => $"{_prefix}:tenant:{CheckTenant(tenant)}:queued";

    /// <summary>One tenant's submission rate: the GCRA theoretical arrival time (Unix ms) of <c>RequestsPerMinute</c>.</summary>
    public RedisKey TenantRate(string tenant) => $"{_prefix}:tenant:{CheckTenant(tenant)}:rpm";

    // The root routes a job's own keys to the job's partition; a partition's keys are its own.
    private RedisKeys Home(string jobId) => _partitions.Length > 1 ? ForJob(jobId) : this;

    // A delivery id is '<jobId>.<n>' (finalize in includes/job.lua); a job id holds no '.'.
    private static string JobOfDelivery(string deliveryId) =>
        deliveryId.IndexOf('.', StringComparison.Ordinal) is var dot and > 0 ? deliveryId[..dot] : deliveryId;

    /// <summary>
    /// One tenant's ready jobs (high and normal; low ones in <c>…:low</c>): job ids waiting for
    /// <c>dispatch.lua</c>, scored by enqueue time (Unix ms; a high job's minus 10^13). The scripts
    /// derive it from the prefix (includes/ready.lua).
    /// </summary>
    public RedisKey Ready(string tenant) => $"{_prefix}:ready:{CheckTenant(tenant)}";

    /// <summary>One tenant's ready low-priority jobs, scored by enqueue time (Unix ms).</summary>
    public RedisKey ReadyLow(string tenant) => $"{_prefix}:ready:{CheckTenant(tenant)}:low";

    /// <summary>Tenants with ready jobs, scored by the start tag of their next job (fair sharing).</summary>
    public RedisKey ActiveTenants { get; }

    /// <summary>
    /// Active tenants held back by their limits, parked out of <see cref="ActiveTenants"/> by
    /// dispatch.lua, scored by when it looks at them again (Unix ms); each one's tag is in
    /// <see cref="DispatchState"/> as <c>held:&lt;tenant&gt;</c>.
    /// </summary>
    public RedisKey HeldTenants { get; }

    /// <summary>The dispatcher's state (hash): <c>ready</c> (jobs in ready sets), <c>vt</c> (virtual time), <c>finish:&lt;tenant&gt;</c>, <c>held:&lt;tenant&gt;</c>.</summary>
    public RedisKey DispatchState { get; }

    /// <summary>Where a tenant that has become dispatchable is announced (message: the tenant), so idle workers dispatch at once.</summary>
    public RedisChannel ReadyChannel { get; }

    /// <summary>
    /// Published to once at each start (<c>record-partitions.lua</c>), to find a Redis user the ACL
    /// denies publishing before a script is refused it after its writes; no one subscribes.
    /// </summary>
    public RedisChannel CheckChannel { get; }

    /// <summary>One tenant's token rate: the GCRA theoretical arrival time (Unix ms) of <c>TokensPerMinute</c>.</summary>
    public RedisKey TenantTokens(string tenant) => $"{_prefix}:tenant:{CheckTenant(tenant)}:tpm";

    private static string CheckTenant(string tenant) => TenantNames.IsValid(tenant)
        ? tenant
        : throw new ArgumentException($"A tenant name is {TenantNames.Rule}.", nameof(tenant));
}

using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>
/// Every Redis key the orchestrator uses. All keys share the hash tag <c>{orch}</c> so that the
/// multi-key Lua scripts stay valid on Redis Cluster (one slot for the whole job system).
/// </summary>
public sealed class RedisKeys(string prefix = RedisKeys.DefaultPrefix)
{
    /// <summary>The default key prefix, including the cluster hash tag.</summary>
    public const string DefaultPrefix = "{orch}";

    /// <summary>The prefix every key starts with (the LLM flow-control keys too).</summary>
    public string Prefix => prefix;

    /// <summary>The consumer group every worker reads the jobs stream through.</summary>
    public const string ConsumerGroup = "workers";

    /// <summary>The stream of job ids waiting to be processed (a consumer group gives acks and pending lists).</summary>
    public RedisKey Stream { get; } = $"{prefix}:stream";

    /// <summary>
    /// Jobs waiting out a retry delay or a wait for their deployment away from the stream, scored by
    /// the time (Unix ms, Redis clock) they are due; <c>promote.lua</c> gives each a new entry then.
    /// </summary>
    public RedisKey Delayed { get; } = $"{prefix}:delayed";

    /// <summary>Dead-lettered job ids of every tenant, scored by the time (Unix ms) they were dead-lettered.</summary>
    public RedisKey DeadLetters { get; } = $"{prefix}:dead";

    /// <summary>
    /// One tenant's dead-lettered job ids, beside <see cref="DeadLetters"/> (same members and scores).
    /// The scripts that dead-letter derive it as <c>KEYS[dead] .. ':' .. tenant</c>.
    /// </summary>
    public RedisKey TenantDeadLetters(string tenant) => $"{prefix}:dead:{CheckTenant(tenant)}";

    /// <summary>Every tenant's job ids by creation time (Unix ms), the newest <c>JobStore.ListedJobs</c>: the jobs listing.</summary>
    public RedisKey Jobs { get; } = $"{prefix}:jobs";

    /// <summary>
    /// One tenant's job ids, beside <see cref="Jobs"/> (same members and scores). submit.lua
    /// derives it as <c>KEYS[stream]</c> with <c>:stream</c> replaced by <c>:jobs:</c> and the tenant.
    /// </summary>
    public RedisKey TenantJobs(string tenant) => $"{prefix}:jobs:{CheckTenant(tenant)}";

    /// <summary>The hash holding one job's state.</summary>
    public RedisKey Job(string jobId) => $"{prefix}:job:{jobId}";

    /// <summary>The list of one job's attempts, one JSON object per attempt, in order.</summary>
    public RedisKey History(string jobId) => $"{prefix}:job:{jobId}:attempts";

    /// <summary>
    /// One job's events (issue 19): a stream capped at <see cref="MaxEventsPerJob"/> entries, each
    /// <c>type</c> = <c>status</c> | <c>delta</c> | <c>done</c>; it expires with the job. The scripts
    /// derive it as <c>KEYS[job] .. ':events'</c>.
    /// </summary>
    public RedisKey Events(string jobId) => $"{prefix}:job:{jobId}:events";

    /// <summary>Most entries a job's <see cref="Events"/> stream keeps (EVENTS_MAXLEN in <c>includes/job.lua</c>).</summary>
    public const int MaxEventsPerJob = 1000;

    /// <summary>Where every job event is announced: the message is <c>'&lt;job id&gt; &lt;type&gt;'</c>.</summary>
    public RedisChannel EventsChannel { get; } = RedisChannel.Literal($"{prefix}:events");

    /// <summary>Where cancellations of processing jobs are announced to the workers: the message is the job id.</summary>
    public RedisChannel CancelChannel { get; } = RedisChannel.Literal($"{prefix}:cancel");

    /// <summary>
    /// The hash remembering which job a tenant's idempotency key created, and with what request. A
    /// tenant name holds no <c>:</c> (<see cref="TenantNames"/>), so the tenant segment ends at the
    /// first colon and no tenant's key can equal another tenant's, whatever the key holds.
    /// </summary>
    public RedisKey Idempotency(string tenant, string key) => $"{prefix}:idem:{CheckTenant(tenant)}:{key}";

    /// <summary>The webhook outbox: delivery ids not yet delivered or given up, scored by when the next try is due (Unix ms).</summary>
    public RedisKey WebhookOutbox { get; } = $"{prefix}:webhooks";

    /// <summary>One webhook delivery (<c>&lt;jobId&gt;.&lt;n&gt;</c>): its payload fields and progress. finalize in job.lua writes the same name.</summary>
    public RedisKey Webhook(string deliveryId) => $"{prefix}:webhook:{deliveryId}";

    /// <summary>The tries of one webhook delivery, one JSON object each, the last 20.</summary>
    public RedisKey WebhookAttempts(string deliveryId) => $"{prefix}:webhook:{deliveryId}:attempts";

    /// <summary>
    /// One tenant's backlog (hash: <c>jobs</c> not yet final, <c>lastFinalAt</c>, <c>finalEveryMs</c>):
    /// incremented by <c>submit.lua</c>, decremented once per job by <c>finalize</c> (includes/job.lua),
    /// which derives it from the job key's prefix and the job's tenant.
    /// </summary>
    public RedisKey TenantBacklog(string tenant) => $"{prefix}:tenant:{CheckTenant(tenant)}:queued";

    /// <summary>One tenant's submission rate: the GCRA theoretical arrival time (Unix ms) of <c>RequestsPerMinute</c>.</summary>
    public RedisKey TenantRate(string tenant) => $"{prefix}:tenant:{CheckTenant(tenant)}:rpm";

    /// <summary>
    /// One tenant's ready jobs (high and normal; low ones in <c>…:low</c>): job ids waiting for
    /// <c>dispatch.lua</c>, scored by enqueue time (Unix ms; a high job's minus 10^13). The scripts
    /// derive it from the prefix (includes/ready.lua).
    /// </summary>
    public RedisKey Ready(string tenant) => $"{prefix}:ready:{CheckTenant(tenant)}";

    /// <summary>One tenant's ready low-priority jobs, scored by enqueue time (Unix ms).</summary>
    public RedisKey ReadyLow(string tenant) => $"{prefix}:ready:{CheckTenant(tenant)}:low";

    /// <summary>Tenants with ready jobs, scored by the start tag of their next job (fair sharing).</summary>
    public RedisKey ActiveTenants { get; } = $"{prefix}:tenants";

    /// <summary>The dispatcher's state (hash): <c>ready</c> (jobs in ready sets), <c>vt</c> (virtual time), <c>finish:&lt;tenant&gt;</c>.</summary>
    public RedisKey DispatchState { get; } = $"{prefix}:dispatch";

    /// <summary>Where a tenant that has become dispatchable is announced (message: the tenant), so idle workers dispatch at once.</summary>
    public RedisChannel ReadyChannel { get; } = RedisChannel.Literal($"{prefix}:ready");

    /// <summary>One tenant's token rate: the GCRA theoretical arrival time (Unix ms) of <c>TokensPerMinute</c>.</summary>
    public RedisKey TenantTokens(string tenant) => $"{prefix}:tenant:{CheckTenant(tenant)}:tpm";

    private static string CheckTenant(string tenant) => TenantNames.IsValid(tenant)
        ? tenant
        : throw new ArgumentException($"A tenant name is {TenantNames.Rule}.", nameof(tenant));
}

using System.ComponentModel.DataAnnotations;

namespace Orchestrator.Jobs;

/// <summary>
/// One tenant's quotas, bound from <c>Tenants:{tenant}</c> (beside its <c>ApiKeys</c>). Each is
/// optional (unset = unlimited) and enforced for the whole fleet in Redis, not per process:
/// <see cref="MaxQueuedJobs"/> and <see cref="RequestsPerMinute"/> by <c>submit.lua</c> (the API
/// answers 429 <c>quota-exceeded</c>), <see cref="MaxConcurrency"/> and <see cref="TokensPerMinute"/>
/// by the workers' dispatch (a job over them waits, unstarted), and <see cref="Weight"/>, the
/// tenant's fair share. Layout: docs/design/job-store.md "Tenant quotas", "Ready sets and dispatch".
/// </summary>
public sealed class TenantQuotas
{
    /// <summary>Largest value any quota accepts.</summary>
    public const int Max = 10_000_000;

    /// <summary>
    /// Jobs of the tenant not yet final (queued, processing, waiting for a retry) at once, counted
    /// in Redis across every API and worker. A submission beyond it is refused with 429. Unit: jobs.
    /// Default unset (unlimited; <c>Api:MaxQueuedJobs</c> still bounds all tenants together).
    /// </summary>
    [Range(1, Max)]
    public int? MaxQueuedJobs { get; set; }

    /// <summary>
    /// Submissions (<c>POST /jobs</c> that create a job) per minute, as a GCRA: up to this many at
    /// once, then one every 60 s / this value. An idempotent replay is not counted. A submission
    /// beyond it is refused with 429. Unit: requests per minute. Default unset (unlimited).
    /// </summary>
    [Range(1, Max)]
    public int? RequestsPerMinute { get; set; }

    /// <summary>
    /// The tenant's jobs running an attempt at once across every worker: leased permits in Redis,
    /// taken when an attempt starts, given back when it ends, lapsing with the job's lease when a
    /// worker dies. A job over it is held back unstarted (its attempt unspent) until a permit is
    /// free. Unit: jobs. Default unset (unlimited).
    /// </summary>
    [Range(1, Max)]
    public int? MaxConcurrency { get; set; }

    /// <summary>
    /// LLM tokens (prompt + completion, as the provider reports them) the tenant's calls may use per
    /// minute across every worker: a GCRA in Redis with a burst of one minute, charged when a call
    /// ends. Over it, the tenant's jobs are held back unstarted (holding no worker slot) until the
    /// minute's tokens return; calls already running finish. Unit: tokens per minute. Default unset (unlimited).
    /// </summary>
    [Range(1, Max)]
    public int? TokensPerMinute { get; set; }

    /// <summary>
    /// The tenant's share when several tenants have work waiting: workers choose between them by
    /// weighted fair sharing, so two backlogged tenants at weights 3 and 1 are served 3 : 1; a tenant
    /// alone gets every free worker whatever its weight. Unit: a relative weight. Default 1.
    /// </summary>
    [Range(1, MaxWeight)]
    public int? Weight { get; set; }

    /// <summary>Largest <see cref="Weight"/>.</summary>
    public const int MaxWeight = 1_000;
}

namespace Orchestrator.Jobs;

/// <summary>A job about to be submitted. Its creation time is Redis's (see <see cref="SubmitResult.CreatedAt"/>).</summary>
/// <param name="Retention">How long the job is kept once it reaches a final state.</param>
public sealed record NewJob(
    string Id,
    JobRequest Request,
    int MaxAttempts,
    TimeSpan Retention,
    string? TraceParent = null,
    string? TraceState = null)
{
    /// <summary>The tenant the job belongs to; its idempotency keys are scoped to it.</summary>
    public string Tenant { get; init; } = TenantNames.Default;

    /// <summary>The tenant's quotas that <c>submit.lua</c> checks (<see cref="TenantQuotas.MaxQueuedJobs"/>, <see cref="TenantQuotas.RequestsPerMinute"/>); null: none.</summary>
    public TenantQuotas? Quotas { get; init; }
}

/// <summary>The idempotency key a submission carries (scoped to the job's tenant), and how long to remember it.</summary>
/// <param name="Fingerprint">Identifies the request body; a replay must carry the same one.</param>
public sealed record IdempotencyClaim(string Key, string Fingerprint, TimeSpan Ttl);

/// <summary>What happened to a submission.</summary>
public enum SubmitOutcome
{
    /// <summary>A new job was created and enqueued.</summary>
    Created,

    /// <summary>The idempotency key was seen with the same request: nothing was created.</summary>
    Replayed,

    /// <summary>The idempotency key was seen with a different request: nothing was created.</summary>
    Conflict,

    /// <summary>The backlog bound was reached (that many jobs are not yet final): nothing was written.</summary>
    QueueFull,

    /// <summary>A quota of the tenant is used up (<see cref="SubmitResult.Quota"/>): nothing was written.</summary>
    QuotaExceeded,

    /// <summary>Redis refused the write at its memory limit (<c>maxmemory</c>, <c>noeviction</c>): nothing was written.</summary>
    StorageFull,
}

/// <summary>The answer of <see cref="JobStore.SubmitAsync"/>.</summary>
/// <param name="JobId">The job created or replayed; empty when nothing was created.</param>
/// <param name="CreatedAt">
/// With <see cref="SubmitOutcome.Created"/> and <see cref="SubmitOutcome.Replayed"/>: when the job was
/// created, on Redis's clock (millisecond precision, as stored).
/// </param>
/// <param name="QueuedJobs">With <see cref="SubmitOutcome.QueueFull"/>: the jobs not yet final when the bound was met.</param>
/// <param name="ReplayedResponseBody">
/// With <see cref="SubmitOutcome.Replayed"/> of a key stored by an earlier version (which kept the
/// first 202 body itself, not its time): that body, to replay verbatim; otherwise null.
/// </param>
public sealed record SubmitResult(
    SubmitOutcome Outcome, string JobId, DateTimeOffset CreatedAt = default, long QueuedJobs = 0, string? ReplayedResponseBody = null)
{
    /// <summary>With <see cref="SubmitOutcome.QuotaExceeded"/>: the quota, as configured (<c>MaxQueuedJobs</c>, <c>RequestsPerMinute</c>), and its limit.</summary>
    public QuotaRefusal? Quota { get; init; }
}

/// <summary>Why <c>submit.lua</c> refused a submission for its tenant's quota.</summary>
/// <param name="Name">The quota: <see cref="QuotaRefusal.MaxQueuedJobs"/> or <see cref="QuotaRefusal.RequestsPerMinute"/>.</param>
/// <param name="Limit">Its configured value.</param>
/// <param name="RetryAfter">When a submission may pass, from the quota's state in Redis.</param>
public sealed record QuotaRefusal(string Name, long Limit, TimeSpan RetryAfter)
{
    /// <summary>The name of <see cref="TenantQuotas.MaxQueuedJobs"/>.</summary>
    public const string MaxQueuedJobs = nameof(TenantQuotas.MaxQueuedJobs);

    /// <summary>The name of <see cref="TenantQuotas.RequestsPerMinute"/>.</summary>
    public const string RequestsPerMinute = nameof(TenantQuotas.RequestsPerMinute);
}

namespace Orchestrator.Worker.Llm;

/// <summary>
/// The call may not go out yet: the deployment is cooling down after a 429, its limits or permits
/// are taken, or its circuit is open with no fallback; or the job's tenant runs its
/// <c>MaxConcurrency</c> jobs already (<see cref="BeforeAttempt"/>). The job waits <see cref="Wait"/>
/// and tries again: no attempt is spent. <see cref="Reason"/> is <c>rate-limited</c>,
/// <c>capacity</c>, <c>concurrency</c>, <c>circuit-open</c> or <c>tenant-concurrency</c>.
/// </summary>
public sealed class CapacityWaitException : Exception
{
    /// <summary>A wait for deployment <paramref name="provider"/>, within the attempt already started.</summary>
    /// <param name="cause">What the deployment answered that makes the job wait (its 429, the failure that opened its circuit), if known.</param>
    public CapacityWaitException(TimeSpan wait, string reason, string provider, string? cause = null)
        : this(wait, reason, provider, $"Deployment '{provider}': {reason}; waiting {wait.TotalMilliseconds:0} ms without spending an attempt.", beforeAttempt: false)
    {
        Cause = cause;
    }

    private CapacityWaitException(TimeSpan wait, string reason, string provider, string message, bool beforeAttempt)
        : base(message)
    {
        Wait = wait;
        Reason = reason;
        Provider = provider;
        BeforeAttempt = beforeAttempt;
    }

    /// <summary>
    /// The tenant's concurrency permits are all taken (<c>start-attempt.lua</c> answered <c>held</c>):
    /// the attempt did not start; the job goes back to its tenant's ready set, or, should Redis refuse
    /// that, asks to start it again after the wait. Not bounded by
    /// <c>Llm:MaxRateLimitWait</c>: a tenant's own backlog is not a deployment's failure.
    /// </summary>
    public static CapacityWaitException TenantConcurrency(string tenant, TimeSpan wait) =>
        new(wait, "tenant-concurrency", tenant,
            $"Tenant '{tenant}': all its MaxConcurrency permits are taken; the attempt waits {wait.TotalMilliseconds:0} ms unstarted.", beforeAttempt: true);

    /// <summary>What the deployment answered that makes the job wait (its 429, the failure that opened its circuit), if known.</summary>
    public string? Cause { get; }

    /// <summary>
    /// The slot booked for the call at the wait's end (<c>reserve.lua</c>), to present then; null when
    /// none is (the call asks the limits again).
    /// </summary>
    public string? Booking { get; init; }

    /// <summary>How long to wait before trying again.</summary>
    public TimeSpan Wait { get; }

    /// <summary>Why (see the class summary).</summary>
    public string Reason { get; }

    /// <summary>The deployment waited for (the tenant, for <c>tenant-concurrency</c>).</summary>
    public string Provider { get; }

    /// <summary>Whether the wait came before the attempt started (a tenant hold): the next try starts it.</summary>
    public bool BeforeAttempt { get; }
}

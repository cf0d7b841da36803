namespace Orchestrator.Jobs;

/// <summary>How one attempt ended, as recorded in a job's history and on its attempt span.</summary>
public static class AttemptOutcome
{
    /// <summary>The LLM answered.</summary>
    public const string Succeeded = "succeeded";

    /// <summary>A transient error (rate limit, overload, network); the attempt may be retried.</summary>
    public const string TransientFailure = "transient-failure";

    /// <summary>A permanent error (invalid request); never retried.</summary>
    public const string PermanentFailure = "permanent-failure";

    /// <summary>The attempt ran past <c>Retry:AttemptTimeout</c>; retried like a transient failure.</summary>
    public const string Timeout = "timeout";

    /// <summary>The worker running the attempt died or lost its lease before recording an outcome.</summary>
    public const string WorkerLost = "worker-lost";

    /// <summary>A client canceled the job while the attempt ran: the LLM call was aborted.</summary>
    public const string Canceled = "canceled";

    /// <summary>
    /// The worker shut down gracefully during the call and handed the job back (<c>release.lua</c>):
    /// the call was cut off, and the attempt is not charged to the job's budget.
    /// </summary>
    public const string Released = "released";
}

namespace Orchestrator.Jobs;

/// <summary>A job about to be submitted.</summary>
/// <param name="Retention">How long the job is kept once it reaches a final state.</param>
public sealed record NewJob(
    string Id,
    JobRequest Request,
    DateTimeOffset CreatedAt,
    int MaxAttempts,
    TimeSpan Retention,
    string? TraceParent = null,
    string? TraceState = null)
{
    /// <summary>The tenant the job belongs to; its idempotency keys are scoped to it.</summary>
    public string Tenant { get; init; } = TenantNames.Default;
}

/// <summary>The idempotency key a submission carries (scoped to the job's tenant), and what to remember with it.</summary>
/// <param name="Fingerprint">Identifies the request body; a replay must carry the same one.</param>
/// <param name="ResponseBody">The first answer's body, replayed verbatim.</param>
public sealed record IdempotencyClaim(string Key, string Fingerprint, TimeSpan Ttl, string ResponseBody);

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

    /// <summary>Redis refused the write at its memory limit (<c>maxmemory</c>, <c>noeviction</c>): nothing was written.</summary>
    StorageFull,
}

/// <summary>The answer of <see cref="JobStore.SubmitAsync"/>.</summary>
/// <param name="JobId">The job created or replayed; empty when nothing was created.</param>
/// <param name="QueuedJobs">With <see cref="SubmitOutcome.QueueFull"/>: the jobs not yet final when the bound was met.</param>
public sealed record SubmitResult(SubmitOutcome Outcome, string JobId, string? ReplayedResponseBody = null, long QueuedJobs = 0);

/// <summary>One page of dead-lettered jobs, newest first.</summary>
/// <param name="NextCursor">Pass back to get the next page; null on the last page.</param>
public sealed record DeadLetterPage(IReadOnlyList<Job> Items, string? NextCursor);

/// <summary>The size of the queue, for gauges and operators.</summary>
/// <param name="StreamLength">Entries in the jobs stream: queued plus in progress.</param>
/// <param name="Pending">Entries delivered to a worker and not yet finished.</param>
/// <param name="DeadLetters">Jobs in the dead-letter list.</param>
public sealed record QueueStats(long StreamLength, long Pending, long DeadLetters);

/// <summary>A stream entry handed to this worker: by a fresh read or by reclaiming an expired lease.</summary>
public sealed record Delivery(string EntryId, string JobId, bool Reclaimed);

/// <summary>The right to work on a job, proven by a token every state write checks.</summary>
public sealed record JobLease(string JobId, string EntryId, string Token, string Consumer);

/// <summary>What a worker got when it claimed a delivery.</summary>
public enum ClaimOutcome
{
    /// <summary>The lease is the caller's; <see cref="ClaimResult.Job"/> holds the job.</summary>
    Claimed,

    /// <summary>The job no longer exists (expired); the entry was acknowledged.</summary>
    Missing,

    /// <summary>The job is already final (a duplicate delivery); the entry was acknowledged.</summary>
    AlreadyFinal,

    /// <summary>Attempts or deliveries were exhausted; the job was dead-lettered.</summary>
    DeadLettered,

    /// <summary>
    /// The job could not be claimed or read (a value that does not parse, a failing step): it was
    /// set aside, failed and dead-lettered with error type <c>corrupt</c>; the rest of its batch is unaffected.
    /// </summary>
    Corrupt,
}

/// <summary>The answer of <see cref="JobStore.ClaimAsync"/>.</summary>
/// <param name="Job">The job as the claim left it (with the attempt it started, if any).</param>
/// <param name="StartedAttempt">
/// The attempt the claim started (recorded durably; call the LLM for it), or 0 when it started
/// none: not asked to, or the job waits for a retry; then <see cref="JobStore.StartAttemptAsync"/> starts it.
/// </param>
/// <param name="Reason">Why a <see cref="ClaimOutcome.Corrupt"/> job was set aside.</param>
public sealed record ClaimResult(ClaimOutcome Outcome, JobLease Lease, Job? Job, int StartedAttempt = 0, string? Reason = null);

/// <summary>What one XAUTOCLAIM step took, and where the next step starts.</summary>
/// <param name="Next">The cursor to pass to the next step; <see cref="Start"/> after a full pass.</param>
public sealed record ReclaimPage(IReadOnlyList<Delivery> Deliveries, string Next)
{
    /// <summary>The cursor at the start of the pending entries.</summary>
    public const string Start = "0-0";
}

/// <summary>The answer of <see cref="JobStore.StartAttemptAsync"/>.</summary>
public enum StartAttemptOutcome
{
    /// <summary>The attempt is recorded; call the LLM.</summary>
    Started,

    /// <summary>Another worker holds the job now; stop working on it.</summary>
    LeaseLost,

    /// <summary>No attempt is left; dead-letter the job.</summary>
    Exhausted,
}

/// <summary>How one attempt ended, to record with <see cref="JobStore.FinishAttemptsAsync"/>.</summary>
/// <param name="Outcome">The attempt's outcome (<see cref="AttemptOutcome"/>).</param>
/// <param name="NextStatus">The job's status after it: completed, retrying or failed.</param>
public sealed record AttemptFinish(
    JobLease Lease, int Attempt, string Outcome, string NextStatus, JobResult? Result, JobError? Error, TimeSpan? RetryDelay)
{
    public static AttemptFinish Completed(JobLease lease, int attempt, JobResult result) =>
        new(lease, attempt, AttemptOutcome.Succeeded, JobStatus.Completed, result, null, null);

    public static AttemptFinish Retrying(JobLease lease, int attempt, string outcome, JobError error, TimeSpan delay) =>
        new(lease, attempt, outcome, JobStatus.Retrying, null, error, delay);

    public static AttemptFinish Failed(JobLease lease, int attempt, string outcome, JobError error) =>
        new(lease, attempt, outcome, JobStatus.Failed, null, error, null);
}

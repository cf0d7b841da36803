namespace Orchestrator.Jobs;

/// <summary>A stream entry handed to this worker: by a fresh read or by reclaiming an expired lease.</summary>
public sealed record Delivery(string EntryId, string JobId, bool Reclaimed)
{
    /// <summary>
    /// Names the delivery among every partition's: entry ids are per stream, so two partitions can
    /// hand out the same one; with the job id they cannot.
    /// </summary>
    public string Key => $"{JobId}/{EntryId}";
}

/// <summary>The right to work on a job, proven by a token every state write checks.</summary>
public sealed record JobLease(string JobId, string EntryId, string Token, string Consumer)
{
    /// <summary>The <see cref="Delivery.Key"/> of the delivery this lease holds.</summary>
    public string Key => $"{JobId}/{EntryId}";
}

/// <summary>What a lease's renewal found (<c>renew.lua</c>'s answer).</summary>
public enum LeaseRenewal
{
    /// <summary>Another worker has claimed the job (or it is no job any more): stop working on it.</summary>
    Lost = 0,

    /// <summary>The lease is still the caller's, renewed.</summary>
    Held = 1,

    /// <summary>Renewed, and a client has asked to cancel the job: abort its call.</summary>
    CancelRequested = 2,
}

/// <summary>What a worker got when it claimed a delivery.</summary>
public enum ClaimOutcome
{
    /// <summary>The lease is the caller's; <see cref="ClaimResult.Job"/> holds the job.</summary>
    Claimed,

    /// <summary>The job no longer exists (expired); the entry was acknowledged.</summary>
    Missing,

    /// <summary>The job is already final (a duplicate delivery); the entry was acknowledged.</summary>
    AlreadyFinal,

    /// <summary>Attempts or deliveries were exhausted; the job was dead-lettered (<see cref="ClaimResult.Job"/> holds it as it now is).</summary>
    DeadLettered,

    /// <summary>
    /// A client canceled the job while its worker was lost (its cancel was flagged, no worker aborted
    /// the call): the claim made it canceled, with no further attempt (<see cref="ClaimResult.Job"/> holds it as it now is).
    /// </summary>
    Canceled,

    /// <summary>
    /// The job could not be claimed or read (a value that does not parse, a failing step): it was
    /// set aside, failed and dead-lettered with error type <c>corrupt</c>; the rest of its batch is unaffected.
    /// </summary>
    Corrupt,
}

/// <summary>The answer of <see cref="JobStore.ClaimAsync"/>.</summary>
/// <param name="Job">The job as the claim left it (with the attempt it started, if any); also a job the claim dead-lettered.</param>
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

    /// <summary>The job's tenant runs its <c>MaxConcurrency</c> jobs already: nothing started; ask again later.</summary>
    Held,
}

/// <summary>What <see cref="JobStore.DeferAsync"/> did.</summary>
public enum DeferOutcome
{
    /// <summary>The job waits in the delayed set, its attempt taken back.</summary>
    Deferred,

    /// <summary>The caller's lease or attempt is no longer current: nothing was written.</summary>
    Stale,

    /// <summary>The job's history could not be read: it was set aside (failed, <c>corrupt</c>).</summary>
    Corrupt,

    /// <summary>A client canceled the job while its attempt waited: it is canceled, its attempt taken back.</summary>
    Canceled,
}

/// <summary>What <see cref="JobStore.ReleaseAsync"/> did.</summary>
public enum ReleaseOutcome
{
    /// <summary>Another worker holds the job now (or none does): nothing was written.</summary>
    Stale = 0,

    /// <summary>Handed back; no attempt was running (the job waited for its attempt or its retry).</summary>
    Released = 1,

    /// <summary>
    /// Handed back, and the attempt that was running closed as <see cref="AttemptOutcome.Released"/>:
    /// recorded, not charged to the job's budget.
    /// </summary>
    AttemptReleased = 2,
}

namespace Orchestrator.Jobs;

/// <summary>What <see cref="JobStore.FinishAttemptsAsync"/> answered for one attempt's outcome.</summary>
public enum FinishReply
{
    /// <summary>Not recorded: the caller's lease or attempt was stale, or the job was set aside as corrupt.</summary>
    Stale,

    /// <summary>Recorded as sent (also when an earlier send of the same call applied and its reply was lost).</summary>
    Recorded,

    /// <summary>
    /// Recorded, and the job is <c>canceled</c> instead of <c>retrying</c>: a client canceled it while
    /// the attempt ran (its worker missed the message), so no further attempt follows.
    /// </summary>
    CanceledInstead,
}

namespace Orchestrator.Jobs;

/// <summary>How one attempt ended, to record with <see cref="JobStore.FinishAttemptsAsync"/>.</summary>
/// <param name="Outcome">The attempt's outcome (<see cref="AttemptOutcome"/>).</param>
/// <param name="NextStatus">The job's status after it: completed, retrying or failed.</param>
/// <param name="ToDelayedSet">
/// For a retry: the job waits in the delayed set, holding no lease and no worker slot (a delay longer
/// than <c>Worker:MaxInProcessDelay</c>), instead of with its worker.
/// </param>
/// <param name="LastDelta">
/// Text the attempt streamed that is not in the job's events yet: appended as its last <c>delta</c>
/// event, before the final one, by the same script (one call where an append and a finish were two).
/// </param>
public sealed record AttemptFinish(
    JobLease Lease, int Attempt, string Outcome, string NextStatus, JobResult? Result, JobError? Error, TimeSpan? RetryDelay,
    bool ToDelayedSet = false, string? LastDelta = null)
{
    public static AttemptFinish Completed(JobLease lease, int attempt, JobResult result, string? lastDelta = null) =>
        new(lease, attempt, AttemptOutcome.Succeeded, JobStatus.Completed, result, null, null, LastDelta: lastDelta);

    public static AttemptFinish Retrying(JobLease lease, int attempt, string outcome, JobError error, TimeSpan delay, bool toDelayedSet = false) =>
        new(lease, attempt, outcome, JobStatus.Retrying, null, error, delay, toDelayedSet);

    /// <summary>The attempt was aborted because a client canceled the job (recorded only when it did).</summary>
    public static AttemptFinish Canceled(JobLease lease, int attempt) =>
        new(lease, attempt, AttemptOutcome.Canceled, JobStatus.Canceled, null,
            new JobError(AttemptOutcome.Canceled, "The job was canceled while this attempt ran; the LLM call was aborted."), null);

    public static AttemptFinish Failed(JobLease lease, int attempt, string outcome, JobError error) =>
        new(lease, attempt, outcome, JobStatus.Failed, null, error, null);
}

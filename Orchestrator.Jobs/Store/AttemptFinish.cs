namespace Orchestrator.Jobs;

/// <summary>How one attempt ended, to record with <see cref="JobStore.FinishAttemptsAsync"/>.</summary>
/// <param name="Outcome">The attempt's outcome (<see cref="AttemptOutcome"/>).</param>
/// <param name="NextStatus">The job's status after it: completed, retrying or failed.</param>
/// <param name="ToDelayedSet">
/// For a retry: the job waits in the delayed set, holding no lease and no worker slot (a delay longer
/// than <c>Worker:MaxInProcessDelay</c>), instead of with its worker.
/// </param>
public sealed record AttemptFinish(
    JobLease Lease, int Attempt, string Outcome, string NextStatus, JobResult? Result, JobError? Error, TimeSpan? RetryDelay,
    bool ToDelayedSet = false)
{
    public static AttemptFinish Completed(JobLease lease, int attempt, JobResult result) =>
        new(lease, attempt, AttemptOutcome.Succeeded, JobStatus.Completed, result, null, null);

    public static AttemptFinish Retrying(JobLease lease, int attempt, string outcome, JobError error, TimeSpan delay, bool toDelayedSet = false) =>
        new(lease, attempt, outcome, JobStatus.Retrying, null, error, delay, toDelayedSet);

    /// <summary>The attempt was aborted because a client canceled the job (recorded only when it did).</summary>
    public static AttemptFinish Canceled(JobLease lease, int attempt) =>
        new(lease, attempt, AttemptOutcome.Canceled, JobStatus.Canceled, null,
            new JobError(AttemptOutcome.Canceled, "The job was canceled while this attempt ran; the LLM call was aborted."), null);

    public static AttemptFinish Failed(JobLease lease, int attempt, string outcome, JobError error) =>
        new(lease, attempt, outcome, JobStatus.Failed, null, error, null);
}

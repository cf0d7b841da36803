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

    public static AttemptFinish Failed(JobLease lease, int attempt, string outcome, JobError error) =>
        new(lease, attempt, outcome, JobStatus.Failed, null, error, null);
}

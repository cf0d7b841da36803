namespace Orchestrator.Jobs;

/// <summary>
/// One batch of text an attempt streamed, for the job's events (<see cref="JobStore.AppendDeltasAsync"/>).
/// <paramref name="Batch"/> numbers the batches of one attempt (1, 2, …): a re-send is recognised.
/// </summary>
public sealed record DeltaAppend(JobLease Lease, int Attempt, int Batch, string Text);

using System.Diagnostics;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.Worker.Streaming;

/// <summary>
/// Writes the streamed-text batches of every attempt in this worker by group commit
/// (<see cref="GroupCommit{TItem, TResult}"/>), one per partition: a partition's batches that are
/// ready while its write is in flight go together in the next <c>append-delta.lua</c> call, each
/// still its own fenced append. Without it every job that streams pays one script call at the end of
/// its call (and one per <c>Worker:DeltaInterval</c> while it streams). A failed write fails every
/// batch in it; each <see cref="DeltaWriter"/> keeps its own and sends it again (a re-send is
/// recognised). A partition whose master does not answer holds only its own jobs' text.
/// </summary>
internal sealed class DeltaCommit
{
    private readonly JobStore _store;
    private readonly PartitionCommit[] _commits;

    public DeltaCommit(JobStore store)
    {
        _store = store;
        _commits = [.. Enumerable.Range(0, store.Partitions).Select(_ => new PartitionCommit(store))];
    }

    /// <summary>Appends <paramref name="append"/>; false when its lease or attempt was stale.</summary>
    public Task<bool> WriteAsync(DeltaAppend append, Activity? attemptSpan) =>
        _commits[_store.Keys.ForJob(append.Lease.JobId).Partition].WriteAsync(append, attemptSpan);

    private sealed class PartitionCommit(JobStore store) : GroupCommit<DeltaAppend, bool>(OrchestratorTags.DeltaBatchSize)
    {
        public Task<bool> WriteAsync(DeltaAppend append, Activity? attemptSpan) => CommitAsync(append, attemptSpan, CancellationToken.None);

        protected override async Task WriteBatchAsync(List<Pending> batch) =>
            Complete(batch, await store.AppendDeltasAsync([.. batch.Select(p => p.Item)]).ConfigureAwait(false));
    }
}

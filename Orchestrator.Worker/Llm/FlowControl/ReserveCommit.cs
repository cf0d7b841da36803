using System.Diagnostics;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.Worker.Llm.FlowControl;

/// <summary>
/// The flow-control reservations of this worker's calls by group commit
/// (<see cref="GroupCommit{TItem, TResult}"/>): calls that start while a <c>reserve.lua</c> call is in
/// flight reserve together in the next one, each as if alone. Without it every LLM call paid a
/// script call of its own, the last Redis round trip per job that a busy worker did not batch.
/// A failed write fails every reservation in it; each caller's <c>redis</c> pipeline asks again.
/// </summary>
internal sealed class ReserveCommit(DeploymentFlowControl flow)
    : GroupCommit<ReserveRequest, ReserveAnswer>(OrchestratorTags.ReserveBatchSize)
{
    /// <summary>Reserves what <paramref name="request"/> asks, or says how long to wait.</summary>
    public Task<ReserveAnswer> ReserveAsync(ReserveRequest request, CancellationToken cancellationToken) =>
        CommitAsync(request, Activity.Current, cancellationToken);

    protected override async Task WriteBatchAsync(List<Pending> batch) =>
        Complete(batch, await flow.ReserveManyAsync([.. batch.Select(p => p.Item)]).ConfigureAwait(false));
}

using System.Diagnostics;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Orchestrator.Worker.Resilience;
using Polly;
using Polly.Registry;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// Records attempt outcomes by group commit (<see cref="GroupCommit{TItem, TResult}"/>), one per
/// partition: outcomes of a partition that arrive while its write is in flight are recorded together
/// in one script call, each still its own fenced compare-and-set. A write that fails transiently
/// (Redis down, a timeout, OOM at <c>maxmemory</c>, a failover) is sent again through the
/// <c>redis</c> pipeline without limit: the worker keeps the outcome (and keeps renewing the job's
/// lease) until it is written, so an LLM answer is never thrown away and the LLM never called twice
/// because a write failed. Sending again is safe: finish-attempt.lua answers a repeat of a call that
/// applied as it did the first time. Only outcomes whose callers stopped waiting (their lease was
/// lost) are given up.
/// </summary>
/// <remarks>
/// One commit per partition, as the API's submissions have: a commit over every partition held the
/// outcomes of healthy partitions in a round trip with a master that did not answer, until it did
/// (an outside audit: 15 jobs waited 30 s for a killed master that held none of them).
/// </remarks>
internal sealed class OutcomeWriter
{
    /// <summary>Most outcomes one write records.</summary>
    public const int MaxBatch = 64;

    private readonly JobStore _store;
    private readonly PartitionCommit[] _commits;

    public OutcomeWriter(JobStore store, ResiliencePipelineProvider<string> pipelines, LoopSupervisor loops)
    {
        _store = store;
        var redis = pipelines.GetPipeline(RedisPipeline.Name);
        _commits = [.. Enumerable.Range(0, store.Partitions).Select(_ => new PartitionCommit(store, redis, loops))];
    }

    /// <summary>
    /// Records <paramref name="finish"/> and answers as the store did (<see cref="FinishReply"/>). While Redis cannot take it, it keeps trying until <paramref name="cancellationToken"/>
    /// stops it. <paramref name="attemptSpan"/> becomes the parent of the Redis call when the outcome
    /// is written alone.
    /// </summary>
    public Task<FinishReply> WriteAsync(AttemptFinish finish, Activity? attemptSpan, CancellationToken cancellationToken) =>
        _commits[_store.Keys.ForJob(finish.Lease.JobId).Partition].WriteAsync(finish, attemptSpan, cancellationToken);

    private sealed class PartitionCommit(JobStore store, ResiliencePipeline redis, LoopSupervisor loops)
        : GroupCommit<AttemptFinish, FinishReply>(OrchestratorTags.OutcomeBatchSize, MaxBatch)
    {
        public Task<FinishReply> WriteAsync(AttemptFinish finish, Activity? attemptSpan, CancellationToken cancellationToken) =>
            CommitAsync(finish, attemptSpan, cancellationToken);

        protected override async Task WriteBatchAsync(List<Pending> batch)
        {
            try
            {
                var results = await redis.ExecuteRedisAsync("record outcomes", _ =>
                {
                    // Between tries, outcomes whose callers stopped waiting are dropped.
                    batch.RemoveAll(p => p.TryCancel());
                    return batch.Count == 0 ? Task.FromResult<FinishReply[]>([]) : store.FinishAttemptsAsync([.. batch.Select(p => p.Item)]);
                }, CancellationToken.None).ConfigureAwait(false);
                Complete(batch, results);
                loops.Succeeded("outcome");
            }
            catch (Exception e)
            {
                loops.Fault("outcome", e);
                throw;
            }
        }
    }
}

using System.Diagnostics;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Orchestrator.Worker.Resilience;
using Polly;
using Polly.Registry;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// Records attempt outcomes by group commit (<see cref="GroupCommit{TItem, TResult}"/>): outcomes
/// that arrive while a write is in flight are recorded together in one script call, each still its
/// own fenced compare-and-set. A write that fails transiently (Redis down, a timeout, OOM at
/// <c>maxmemory</c>, a failover) is sent again through the <c>redis</c> pipeline without limit: the
/// worker keeps the outcome (and keeps renewing the job's lease) until it is written, so an LLM
/// answer is never thrown away and the LLM never called twice because a write failed. Sending
/// again is safe: finish-attempt.lua answers a repeat of a call that applied as it did the first
/// time. Only outcomes whose callers stopped waiting (their lease was lost) are given up.
/// </summary>
internal sealed class OutcomeWriter(JobStore store, ResiliencePipelineProvider<string> pipelines, LoopSupervisor loops)
    : GroupCommit<AttemptFinish, FinishReply>(OrchestratorTags.OutcomeBatchSize, MaxBatch)
{
    /// <summary>Most outcomes one write records.</summary>
    public const int MaxBatch = 64;

    private readonly ResiliencePipeline _redis = pipelines.GetPipeline(RedisPipeline.Name);

    /// <summary>
    /// Records <paramref name="finish"/> and answers as the store did (<see cref="FinishReply"/>). While Redis cannot take it, it keeps trying until <paramref name="cancellationToken"/>
    /// stops it. <paramref name="attemptSpan"/> becomes the parent of the Redis call when the outcome
    /// is written alone.
    /// </summary>
    public Task<FinishReply> WriteAsync(AttemptFinish finish, Activity? attemptSpan, CancellationToken cancellationToken) =>
        CommitAsync(finish, attemptSpan, cancellationToken);

    protected override async Task WriteBatchAsync(List<Pending> batch)
    {
        try
        {
            var results = await _redis.ExecuteRedisAsync("record outcomes", _ =>
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

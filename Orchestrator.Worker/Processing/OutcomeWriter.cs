using System.Diagnostics;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// Records attempt outcomes by group commit (<see cref="GroupCommit{TItem, TResult}"/>): outcomes
/// that arrive while a write is in flight are recorded together in one script call, each still its
/// own fenced compare-and-set. While Redis is unavailable it keeps trying, giving up only the
/// outcomes whose callers stopped waiting.
/// </summary>
internal sealed class OutcomeWriter(JobStore store, TimeProvider timeProvider, ILogger<OutcomeWriter> logger)
    : GroupCommit<AttemptFinish, bool>(OrchestratorTags.OutcomeBatchSize)
{
    /// <summary>
    /// Records <paramref name="finish"/>; true when recorded, false when the lease or attempt was
    /// stale. While Redis is unavailable it keeps trying until <paramref name="cancellationToken"/>
    /// stops it. <paramref name="attemptSpan"/> becomes the parent of the Redis call when the outcome
    /// is written alone.
    /// </summary>
    public Task<bool> WriteAsync(AttemptFinish finish, Activity? attemptSpan, CancellationToken cancellationToken) =>
        CommitAsync(finish, attemptSpan, cancellationToken);

    protected override async Task WriteBatchAsync(List<Pending> batch)
    {
        var delay = RedisRetry.FirstDelay;
        while (batch.Count > 0)
        {
            try
            {
                Complete(batch, await store.FinishAttemptsAsync([.. batch.Select(p => p.Item)]).ConfigureAwait(false));
                return;
            }
            catch (Exception e) when (RedisRetry.IsUnavailable(e))
            {
                WorkerLog.RedisUnavailable(logger, "record outcomes", delay, e);
                await Task.Delay(delay, timeProvider).ConfigureAwait(false);
                delay = RedisRetry.NextDelay(delay);
                batch.RemoveAll(p => p.TryCancel());
            }
        }
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// Records attempt outcomes with group commit: an outcome is written at once when no write is in
/// flight; outcomes that arrive meanwhile wait for it and are then written together, in one
/// script call. A lone outcome waits for nothing, and under load one round trip records many jobs.
/// Each job is still its own fenced compare-and-set inside the script.
/// </summary>
internal sealed class OutcomeWriter(JobStore store, TimeProvider timeProvider, ILogger<OutcomeWriter> logger)
{
    private const int MaxBatch = 64;

    private readonly ConcurrentQueue<PendingOutcome> _queue = new();
    private int _writing;

    /// <summary>
    /// Records <paramref name="finish"/>; true when recorded, false when the lease or attempt was
    /// stale. While Redis is unavailable it keeps trying until <paramref name="cancellationToken"/>
    /// stops it. <paramref name="attemptSpan"/> becomes the parent of the Redis call when the outcome
    /// is written alone.
    /// </summary>
    public Task<bool> WriteAsync(AttemptFinish finish, Activity? attemptSpan, CancellationToken cancellationToken)
    {
        var pending = new PendingOutcome(finish, attemptSpan, cancellationToken);
        _queue.Enqueue(pending);
        if (Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
        {
            // The writer serves every job: it must not carry the first caller's span or log scope.
            using (ExecutionContext.SuppressFlow())
            {
                _ = Task.Run(WriteQueuedAsync);
            }
        }

        return pending.Completion.Task;
    }

    private async Task WriteQueuedAsync()
    {
        var batch = new List<PendingOutcome>(MaxBatch);
        while (true)
        {
            while (batch.Count < MaxBatch && _queue.TryDequeue(out var pending))
            {
                if (!pending.TryCancel())
                {
                    batch.Add(pending);
                }
            }

            if (batch.Count == 0)
            {
                // A full fence, not a release write: the IsEmpty read below must not move before this
                // store, or a producer's CompareExchange could still see 1 while this writer saw an
                // empty queue, and its outcome would wait for the next WriteAsync (a lost wakeup).
                Interlocked.Exchange(ref _writing, 0);
                // An outcome queued between the last TryDequeue and the line above found the flag
                // set and started no writer: take it, unless a new writer already has.
                if (_queue.IsEmpty || Interlocked.CompareExchange(ref _writing, 1, 0) != 0)
                {
                    return;
                }

                continue;
            }

            await WriteBatchAsync(batch).ConfigureAwait(false);
            batch.Clear();
        }
    }

    private async Task WriteBatchAsync(List<PendingOutcome> batch)
    {
        var delay = RedisRetry.FirstDelay;
        while (batch.Count > 0)
        {
            // A lone outcome's Redis call is a child span of its attempt. A batch's call belongs to
            // no single attempt: it runs outside any span (the orphan sampler drops it) and each
            // attempt span says how many outcomes were committed with its own.
            Activity.Current = batch.Count == 1 ? batch[0].AttemptSpan : null;
            try
            {
                var recorded = await store.FinishAttemptsAsync([.. batch.Select(p => p.Finish)]).ConfigureAwait(false);
                for (var i = 0; i < batch.Count; i++)
                {
                    if (batch.Count > 1)
                    {
                        batch[i].AttemptSpan?.SetTag(OrchestratorTags.OutcomeBatchSize, batch.Count);
                    }

                    batch[i].Completion.TrySetResult(recorded[i]);
                }

                return;
            }
            catch (Exception e) when (RedisRetry.IsUnavailable(e))
            {
                WorkerLog.RedisUnavailable(logger, "record outcomes", delay, e);
                await Task.Delay(delay, timeProvider).ConfigureAwait(false);
                delay = RedisRetry.NextDelay(delay);
                batch.RemoveAll(p => p.TryCancel());
            }
            catch (Exception e)
            {
                foreach (var pending in batch)
                {
                    pending.Completion.TrySetException(e);
                }

                return;
            }
            finally
            {
                Activity.Current = null;
            }
        }
    }

    private sealed class PendingOutcome(AttemptFinish finish, Activity? attemptSpan, CancellationToken cancellationToken)
    {
        public AttemptFinish Finish { get; } = finish;

        public Activity? AttemptSpan { get; } = attemptSpan;

        // Continuations run on the thread pool, not inline on the writer, which serves every job.
        public TaskCompletionSource<bool> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Gives up on this outcome if its caller stopped waiting; true when it did.</summary>
        public bool TryCancel() => cancellationToken.IsCancellationRequested && Completion.TrySetCanceled(cancellationToken);
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;

namespace Orchestrator.Jobs;

/// <summary>
/// Group commit of Redis writes: an item is written at once when no write is in flight; items that
/// arrive meanwhile wait for it and are then written together, in one round trip. A lone item waits
/// for nothing, and under load one call carries many (the Redis client's write lock, its flushes and
/// the server's reads are paid per call, not per item). Each item is still its own transition.
/// </summary>
/// <remarks>
/// A lone item's Redis call is a child span of the item's span. A batch's call belongs to no single
/// caller: it runs outside any span (the orphan sampler drops it) and each caller's span gets
/// <c>batchSizeTag</c>, the number of items committed with its own.
/// </remarks>
public abstract class GroupCommit<TItem, TResult>(string batchSizeTag, int maxBatch = 64)
{
    private readonly ConcurrentQueue<Pending> _queue = new();
    private int _writing;

    /// <summary>
    /// Queues <paramref name="item"/> and returns its result once written. A caller that cancels
    /// <paramref name="cancellationToken"/> before its item is written gives the item up.
    /// </summary>
    protected Task<TResult> CommitAsync(TItem item, Activity? span, CancellationToken cancellationToken)
    {
        var pending = new Pending(item, span, cancellationToken);
        _queue.Enqueue(pending);
        if (Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
        {
            // The writer serves every caller: it must not carry the first caller's span or log scope.
            using (ExecutionContext.SuppressFlow())
            {
                _ = Task.Run(WriteQueuedAsync);
            }
        }

        return pending.Completion.Task;
    }

    /// <summary>
    /// Writes <paramref name="batch"/> (1 to maxBatch items) and settles every item in it with
    /// <see cref="Complete"/>, an exception or a cancellation. It may drop cancelled items and retry.
    /// </summary>
    protected abstract Task WriteBatchAsync(List<Pending> batch);

    /// <summary>Gives each item its result, in order, and tags the callers' spans with the batch size.</summary>
    protected void Complete(List<Pending> batch, IReadOnlyList<TResult> results)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            if (batch.Count > 1)
            {
                batch[i].Span?.SetTag(batchSizeTag, batch.Count);
            }

            batch[i].Completion.TrySetResult(results[i]);
        }
    }

    /// <summary>
    /// Gives each item the outcome of its own task, in order: an item whose write failed gets its
    /// exception and the others their results (one bad item never fails its round trip's others).
    /// </summary>
    protected async Task CompleteEachAsync(List<Pending> batch, IReadOnlyList<Task<TResult>> results)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            if (batch.Count > 1)
            {
                batch[i].Span?.SetTag(batchSizeTag, batch.Count);
            }

            try
            {
                batch[i].Completion.TrySetResult(await results[i].ConfigureAwait(false));
            }
            catch (Exception e)
            {
                batch[i].Completion.TrySetException(e);
            }
        }
    }

    private async Task WriteQueuedAsync()
    {
        var batch = new List<Pending>(maxBatch);
        while (true)
        {
            while (batch.Count < maxBatch && _queue.TryDequeue(out var pending))
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
                // empty queue, and its item would wait for the next CommitAsync (a lost wakeup).
                Interlocked.Exchange(ref _writing, 0);
                // An item queued between the last TryDequeue and the line above found the flag set
                // and started no writer: take it, unless a new writer already has.
                if (_queue.IsEmpty || Interlocked.CompareExchange(ref _writing, 1, 0) != 0)
                {
                    return;
                }

                continue;
            }

            Activity.Current = batch.Count == 1 ? batch[0].Span : null;
            try
            {
                await WriteBatchAsync(batch).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                foreach (var pending in batch)
                {
                    pending.Completion.TrySetException(e);
                }
            }
            finally
            {
                Activity.Current = null;
            }

            batch.Clear();
        }
    }

    /// <summary>One queued item and its caller's wait.</summary>
    protected sealed class Pending(TItem item, Activity? span, CancellationToken cancellationToken)
    {
        public TItem Item { get; } = item;

        public Activity? Span { get; } = span;

        // Continuations run on the thread pool, not inline on the writer, which serves every caller.
        public TaskCompletionSource<TResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Gives up on this item if its caller stopped waiting; true when it did.</summary>
        public bool TryCancel() => cancellationToken.IsCancellationRequested && Completion.TrySetCanceled(cancellationToken);
    }
}

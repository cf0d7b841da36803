using System.Diagnostics;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// Writes submissions by group commit (<see cref="GroupCommit{TItem, TResult}"/>): requests that
/// arrive while a write is in flight go to Redis together, each still its own <c>submit.lua</c>
/// call, so concurrent requests do not contend for the Redis client's write lock or pay a socket
/// write each. A lone request is written at once. Nothing is retried: while Redis is unavailable
/// the request fails fast (503), as before. Each script checks the backlog bound
/// (<see cref="ApiOptions.MaxQueuedJobs"/>) itself, so submissions that share a round trip are
/// counted one after the other, never together. With <c>Redis:WaitReplicas</c> above 0, each round
/// trip is acknowledged only once that many replicas confirm it (one <c>WAIT</c> per round trip and master).
/// </summary>
/// <remarks>
/// Each round trip is recorded in <paramref name="refusals"/> (when given) as operation
/// <see cref="Operation"/>: refused when Redis refused a write in it (READONLY: the node became a
/// replica; OOM, answered storage-full: <c>maxmemory</c> under <c>noeviction</c>), succeeded when it
/// created a job. Redis answers PING meanwhile, so only this lets <c>/health</c> say so
/// (<see cref="RedisRetriesHealthCheck.Api"/>).
/// </remarks>
internal sealed class SubmitWriter(
    JobStore store, IOptions<ApiOptions> options, IOptions<RedisWaitOptions>? waitOptions = null, RedisRetryStreaks? refusals = null)
    : GroupCommit<(NewJob Job, IdempotencyClaim? Idempotency), SubmitResult>(OrchestratorTags.SubmitBatchSize)
{
    /// <summary>The operation a refused submission is recorded as (and named in <c>/health</c>).</summary>
    public const string Operation = "submit";

    private readonly long _maxQueuedJobs = options.Value.MaxQueuedJobs;

    /// <summary>The partitions the backlog bound is shared by (<c>Jobs:Partitions</c>).</summary>
    public int Partitions => store.Partitions;

    /// <summary>A new job id for the submission (see <see cref="JobStore.NewJobId"/>).</summary>
    public string NewJobId(string tenant, string? idempotencyKey) => store.NewJobId(tenant, idempotencyKey);

    /// <summary>
    /// The longest a submission waits for its answer. A request queued behind a round trip that
    /// Redis does not answer (frozen, <c>CLIENT PAUSE</c>) waited for that one's timeout and then its
    /// own: 503s came after 5.4–7.7 s, where the API promises them within 5 s. Past this the request
    /// gets the timeout's 503 (the write may still land: a re-send with the same key is answered from it).
    /// </summary>
    public static readonly TimeSpan AnswerWithin = TimeSpan.FromSeconds(4.5);

    /// <summary>
    /// Creates the job (or answers from its idempotency key), or fails as a Redis timeout after
    /// <see cref="AnswerWithin"/>. <paramref name="requestSpan"/> becomes the parent of the Redis call
    /// when the submission is written alone.
    /// </summary>
    public Task<SubmitResult> SubmitAsync(NewJob job, IdempotencyClaim? idempotency, Activity? requestSpan) =>
        // Not cancellable: as with a direct call, a job whose client went away is still created.
        RedisReply.WithinAsync(CommitAsync((job, idempotency), requestSpan, CancellationToken.None), AnswerWithin);

    // A lone submission is a direct call, not a batch of one: only a direct call's Redis span is a
    // child of the request (the instrumentation does not attribute a batch's commands to it).
    // Each submission of a round trip gets its own answer: one that fails (503 or 500 for its
    // request) leaves the others' 202s alone, so a saved job is never reported as failed.
    protected override async Task WriteBatchAsync(List<Pending> batch)
    {
        var wait = waitOptions?.Value;
        // Pinned before the writes: WAIT must reach the masters (and connections) that took them,
        // one per partition of the round trip's jobs (one master on a single Redis).
        var masters = wait is { WaitReplicas: > 0 } ? store.SubmissionMasters(batch.Select(p => p.Item.Job.Id)) : null;
        IReadOnlyList<Task<SubmitResult>> results = batch.Count == 1
            ? [store.SubmitAsync(batch[0].Item.Job, batch[0].Item.Idempotency, _maxQueuedJobs)]
            : store.SubmitManyAsync([.. batch.Select(p => p.Item)], _maxQueuedJobs);
        await Task.WhenAll(results).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
        var unreplicated = false;
        if (masters is not null && wait is not null)
        {
            // A write that applied is acknowledged only once a replica has it (one WAIT per master and round trip).
            var confirmations = await Task.WhenAll(masters.Select(m => store.WaitForReplicasAsync(m, wait.WaitReplicas, wait.WaitTimeout))).ConfigureAwait(false);
            var confirmed = confirmations.Min();
            if (confirmed < wait.WaitReplicas)
            {
                var notConfirmed = new ReplicasNotConfirmedException(wait.WaitReplicas, confirmed);
                results = [.. results.Select(r => r.IsCompletedSuccessfully ? Task.FromException<SubmitResult>(notConfirmed) : r)];
                unreplicated = true;
            }
        }

        // Recorded before any caller is answered: one that reads /health after its 503 finds the refusal.
        Record(results, unreplicated);
        await CompleteEachAsync(batch, results).ConfigureAwait(false);
    }

    /// <summary>
    /// Records the round trip's settled writes as refused or succeeded; a replay or a refusal of ours
    /// (queue-full, a quota) wrote nothing. <paramref name="unreplicated"/>: too few replicas confirmed
    /// them (<c>Redis:WaitReplicas</c>), a refusal too: every submission was answered 503 while
    /// <c>/health</c> said Healthy.
    /// </summary>
    private void Record(IReadOnlyList<Task<SubmitResult>> written, bool unreplicated)
    {
        if (refusals is null)
        {
            return;
        }

        var refused = unreplicated;
        var created = false;
        foreach (var write in written)
        {
            if (write.IsCompletedSuccessfully)
            {
                refused |= write.Result.Outcome == SubmitOutcome.StorageFull;
                created |= write.Result.Outcome == SubmitOutcome.Created;
            }
            else if (write.Exception is { } failure)
            {
                refused |= RedisFailure.Classify(failure) is RedisFailureKind.ReadOnly or RedisFailureKind.OutOfMemory;
            }
        }

        if (refused)
        {
            refusals.Retried(Operation);
        }
        else if (created)
        {
            refusals.Succeeded(Operation);
        }
    }
}

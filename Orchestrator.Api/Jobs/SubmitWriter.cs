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
/// (<see cref="ApiOptions.MaxQueuedJobs"/>, its partition's share) itself, so submissions that share
/// a round trip are counted one after the other, never together. With <c>Redis:WaitReplicas</c>
/// above 0, each round trip is acknowledged only once that many replicas confirm it (one <c>WAIT</c>
/// per round trip, to its partition's master).
/// </summary>
/// <remarks>
/// <para>
/// One group commit per partition (<c>Jobs:Partitions</c>), each writing only its partition's jobs:
/// a round trip waits for its slowest master, and the submissions queued behind it for that round
/// trip, so one shared commit let a single frozen or paused master of a Redis Cluster hold every
/// partition's submissions (503 after 4.5 s, or 202 only once the master woke). Now a submission waits
/// only for round trips to its own partition's master (one whose tenant has a <c>MaxQueuedJobs</c>
/// quota reads every partition, so waits for every master, in a commit of its own beside its
/// partition's). With one partition it is the one commit, as before.
/// </para>
/// <para>
/// Each round trip is recorded in <paramref name="refusals"/> (when given) as operation
/// <see cref="Operation"/>: refused when Redis refused a write in it (READONLY: the node became a
/// replica; OOM, answered storage-full: <c>maxmemory</c> under <c>noeviction</c>; TRYAGAIN, CLUSTERDOWN,
/// LOADING, MASTERDOWN: not ready, such as its slot being migrated, which refused a partition's
/// submissions for a whole migration while <c>/health</c> said Healthy; MISCONF: persistence
/// failing; NOPERM: a right taken away), succeeded when it
/// created a job. Redis answers PING meanwhile, so only this lets <c>/health</c> say so
/// (<see cref="RedisRetriesHealthCheck.Api"/>).
/// </para>
/// </remarks>
internal sealed class SubmitWriter
{
    /// <summary>The operation a refused submission is recorded as (and named in <c>/health</c>).</summary>
    public const string Operation = "submit";

    private readonly JobStore _store;
    private readonly long _maxQueuedJobs;
    private readonly RedisWaitOptions? _wait;
    private readonly RedisRetryStreaks? _refusals;

    // Per commit, whether its last round trip was refused: one partition's creations must not end
    // another's refusal streak (one master out of memory while the others take jobs).
    private readonly bool[] _refusing;
    private readonly Lock _refusingGate = new();

    private readonly PartitionCommit[] _commits;

    public SubmitWriter(JobStore store, IOptions<ApiOptions> options, IOptions<RedisWaitOptions>? waitOptions = null, RedisRetryStreaks? refusals = null)
    {
        _store = store;
        _maxQueuedJobs = options.Value.MaxQueuedJobs;
        _wait = waitOptions?.Value;
        _refusals = refusals;
        // With partitions, a second commit each for submissions that read every partition (a tenant's
        // MaxQueuedJobs): they wait for every master, and must not hold up their partition's others.
        var commits = store.Partitions == 1 ? 1 : 2 * store.Partitions;
        _refusing = new bool[commits];
        _commits = [.. Enumerable.Range(0, commits).Select(c => new PartitionCommit(this, c))];
    }

    /// <summary>The partitions the backlog bound is shared by (<c>Jobs:Partitions</c>).</summary>
    public int Partitions => _store.Partitions;

    /// <summary>A new job id for the submission (see <see cref="JobStore.NewJobId"/>).</summary>
    public string NewJobId(string tenant, string? idempotencyKey) => _store.NewJobId(tenant, idempotencyKey);

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
        _store.LayoutCheckPending
            ? CheckedSubmitAsync(job, idempotency, requestSpan)
            : RedisReply.WithinAsync(CommitOf(job).CommitAsync((job, idempotency), requestSpan), AnswerWithin);

    // Nothing is written before the partition count has matched Redis's record (JobStore.RequireLayoutCheck).
    // One bound for the check and the write: a bound each let an answer come after 9 s.
    private Task<SubmitResult> CheckedSubmitAsync(NewJob job, IdempotencyClaim? idempotency, Activity? requestSpan) =>
        RedisReply.WithinAsync(CheckThenCommitAsync(job, idempotency, requestSpan), AnswerWithin);

    private async Task<SubmitResult> CheckThenCommitAsync(NewJob job, IdempotencyClaim? idempotency, Activity? requestSpan)
    {
        await _store.CheckedLayoutAsync().ConfigureAwait(false);
        return await CommitOf(job).CommitAsync((job, idempotency), requestSpan).ConfigureAwait(false);
    }

    // A job's partition is a function of its id (an idempotency key's job is drawn into the key's partition).
    private PartitionCommit CommitOf(NewJob job) =>
        _commits[_store.Keys.ForJob(job.Id).Partition + (_store.NeedsOtherPartitionsBacklog(job) ? _store.Partitions : 0)];

    /// <summary>The group commit of one partition's submissions: its round trips carry that partition's jobs alone.</summary>
    private sealed class PartitionCommit(SubmitWriter writer, int index)
        : GroupCommit<(NewJob Job, IdempotencyClaim? Idempotency), SubmitResult>(OrchestratorTags.SubmitBatchSize)
    {
        public Task<SubmitResult> CommitAsync((NewJob Job, IdempotencyClaim? Idempotency) submission, Activity? requestSpan) =>
            CommitAsync(submission, requestSpan, CancellationToken.None);

        // A lone submission is a direct call, not a batch of one: only a direct call's Redis span is a
        // child of the request (the instrumentation does not attribute a batch's commands to it).
        // Each submission of a round trip gets its own answer: one that fails (503 or 500 for its
        // request) leaves the others' 202s alone, so a saved job is never reported as failed.
        protected override async Task WriteBatchAsync(List<Pending> batch)
        {
            var (store, wait) = (writer._store, writer._wait);
            // A commit's jobs are all of one partition. With WAIT, the writes go to the node the
            // client names for it now and nowhere else (a redirect put them on a new master without
            // a replica while the WAIT asked another master, whose replica confirmed: 202s an audit
            // saw after a failover), and the WAIT goes there too, on the connection that took them.
            var master = wait is { WaitReplicas: > 0 } ? store.SubmissionMaster(index % store.Partitions) : null;
            IReadOnlyList<Task<SubmitResult>> results = master is not null
                ? store.SubmitOnAsync(master, [.. batch.Select(p => p.Item)], writer._maxQueuedJobs)
                : batch.Count == 1
                    ? [store.SubmitAsync(batch[0].Item.Job, batch[0].Item.Idempotency, writer._maxQueuedJobs)]
                    : store.SubmitManyAsync([.. batch.Select(p => p.Item)], writer._maxQueuedJobs);
            await Task.WhenAll(results).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
            var unreplicated = false;
            if (master is not null && wait is not null && results.Any(static r => r.IsCompletedSuccessfully))
            {
                // A write that applied is acknowledged only once a replica has it (one WAIT per round trip).
                var confirmed = await store.WaitForReplicasAsync(master, wait.WaitReplicas, wait.WaitTimeout).ConfigureAwait(false);
                if (confirmed < wait.WaitReplicas)
                {
                    var notConfirmed = new ReplicasNotConfirmedException(wait.WaitReplicas, confirmed);
                    results = [.. results.Select(r => r.IsCompletedSuccessfully ? Task.FromException<SubmitResult>(notConfirmed) : r)];
                    unreplicated = true;
                }
            }

            // Recorded before any caller is answered: one that reads /health after its 503 finds the refusal.
            writer.Record(index, results, unreplicated);
            await CompleteEachAsync(batch, results).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Records the round trip's settled writes as refused or succeeded; a replay or a refusal of ours
    /// (queue-full, a quota) wrote nothing. <paramref name="unreplicated"/>: too few replicas confirmed
    /// them (<c>Redis:WaitReplicas</c>), a refusal too: every submission was answered 503 while
    /// <c>/health</c> said Healthy.
    /// </summary>
    private void Record(int commit, IReadOnlyList<Task<SubmitResult>> written, bool unreplicated)
    {
        if (_refusals is null)
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
                refused |= RedisFailure.Classify(failure) is RedisFailureKind.ReadOnly or RedisFailureKind.OutOfMemory or RedisFailureKind.NotReady
                    or RedisFailureKind.CannotPersist or RedisFailureKind.PermissionDenied;
            }
        }

        if (refused || created)
        {
            // Partitions' round trips settle concurrently: a success must not read another partition's
            // flag before that one's refusal is recorded, or it would end the streak just begun.
            lock (_refusingGate)
            {
                _refusing[commit] = refused;
                if (refused)
                {
                    _refusals.Retried(Operation);
                }
                else if (!_refusing.Contains(true))
                {
                    _refusals.Succeeded(Operation);
                }
            }
        }
    }
}

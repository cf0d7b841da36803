using Orchestrator.Jobs;
using Orchestrator.IntegrationTests.Worker;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// The delayed set on a real Redis: a retry with a long delay and a deferred wait for a deployment
/// leave the stream (no entry, no lease, nothing pending); promotion gives them a new entry once due;
/// every one of these calls, sent again, changes nothing; one broken job does not stop a promotion;
/// and the backlog bound counts the jobs waiting there.
/// </summary>
public sealed class DelayedSetStoreTests
{
    private const int MaxAttempts = 3;
    private static readonly TimeSpan Block = TimeSpan.FromMilliseconds(100);

    [Fact]
    public async Task RetryToDelayedSet_LeavesStreamAndLease_ResentChangesNothing_PromotedOnceWhenDue()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (claim, store) = await ClaimOneAsync(harness);

        var error = new JobError("transient", "503 from the provider");
        var retry = AttemptFinish.Retrying(claim.Lease, 1, AttemptOutcome.TransientFailure, error, TimeSpan.FromSeconds(1), toDelayedSet: true);
        Assert.True(await store.FinishAttemptAsync(retry).Bounded());

        var job = await harness.GetAsync(claim.Lease.JobId);
        Assert.Equal(JobStatus.Retrying, job.Status);
        Assert.Equal(1, job.Attempts);
        // The delivery ended cleanly: it does not count towards the delivery cap.
        Assert.Equal(0, job.Deliveries);
        var hash = await harness.Db.HashGetAllAsync(harness.Keys.Job(claim.Lease.JobId)).Bounded();
        Assert.DoesNotContain(hash, e => e.Name == "lease" || e.Name == "entryId");
        Assert.Equal(0, await harness.StreamLengthAsync());
        Assert.Equal(0, await harness.PendingCountAsync());
        var due = await harness.Db.SortedSetScoreAsync(harness.Keys.Delayed, claim.Lease.JobId).Bounded();
        Assert.Equal(job.NextAttemptAt!.Value.ToUnixTimeMilliseconds(), (long)due!.Value);

        // The same call again (its reply lost): answered as the first time, nothing written.
        Assert.True(await store.FinishAttemptAsync(retry).Bounded());
        Assert.Equal(due, await harness.Db.SortedSetScoreAsync(harness.Keys.Delayed, claim.Lease.JobId).Bounded());
        Assert.Equal(0, await harness.StreamLengthAsync());
        Assert.Equal(0, (await harness.GetAsync(claim.Lease.JobId)).Deliveries);

        // Not due yet: nothing moves.
        Assert.Equal((0L, 0L), await store.PromoteDueAsync(100).Bounded());

        // Due: two promoters at once (two workers, or one call sent twice) promote it once.
        long promoted = 0;
        await AsyncWait.WaitUntilAsync(
            async () => (promoted += (await store.PromoteDueAsync(100).Bounded()).Promoted) > 0,
            TimeSpan.FromSeconds(10), "the job is promoted once due");
        var resent = await Task.WhenAll(store.PromoteDueAsync(100), store.PromoteDueAsync(100)).Bounded();
        Assert.Equal(1, promoted);
        Assert.All(resent, r => Assert.Equal(0, r.Promoted));
        // Promoted into its tenant's ready set, once; dispatch sends it into the stream.
        Assert.Equal([claim.Lease.JobId], (await harness.Db.SortedSetRangeByRankAsync(harness.Keys.Ready(TenantNames.Default)).Bounded()).Select(v => (string)v!));
        Assert.Equal(0, await harness.StreamLengthAsync());
        Assert.Equal(0, await harness.Db.SortedSetLengthAsync(harness.Keys.Delayed).Bounded());

        // The next attempt starts from the new entry, as any delivery does.
        var delivery = Assert.Single(await store.ReadNewAsync("worker-b", 10, Block).Bounded());
        Assert.Equal(claim.Lease.JobId, delivery.JobId);
        var again = await store.ClaimAsync(delivery, "worker-b", startAttempt: true).Bounded();
        Assert.Equal(2, again.StartedAttempt);
        Assert.True(await store.CompleteAsync(again.Lease, 2, new JobResult("answer", "model", new TokenUsage(3, 2))).Bounded());
        Assert.Equal(JobStatus.Completed, (await harness.GetAsync(claim.Lease.JobId)).Status);
        Assert.Equal(0, await harness.StreamLengthAsync());
    }

    [Fact]
    public async Task Defer_TakesTheAttemptBack_KeepsTheWait_ResentOrStaleChangesNothing()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (claim, store) = await ClaimOneAsync(harness);
        var jobId = claim.Lease.JobId;

        Assert.Equal(DeferOutcome.Deferred, await store.DeferAsync(claim.Lease, 1, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(12)).Bounded());

        var job = await harness.GetAsync(jobId);
        // No call went out: the job is as before its first attempt, and waits.
        Assert.Equal(JobStatus.Queued, job.Status);
        Assert.Equal(0, job.Attempts);
        Assert.Empty(job.History);
        Assert.Null(job.FirstAttemptAt);
        Assert.Equal(0, job.Deliveries);
        Assert.Equal(TimeSpan.FromMinutes(12), job.RateLimitWait);
        Assert.Equal(0, await harness.StreamLengthAsync());
        Assert.Equal(0, await harness.PendingCountAsync());
        var due = (await harness.Db.SortedSetScoreAsync(harness.Keys.Delayed, jobId).Bounded())!.Value;
        Assert.Equal(job.NextAttemptAt!.Value.ToUnixTimeMilliseconds(), (long)due);
        Assert.InRange(job.NextAttemptAt!.Value - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(11));

        // Sent again: the same answer, nothing written. A stale caller (another token) changes nothing.
        var before = await harness.Db.HashGetAllAsync(harness.Keys.Job(jobId)).Bounded();
        Assert.Equal(DeferOutcome.Deferred, await store.DeferAsync(claim.Lease, 1, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(12)).Bounded());
        Assert.Equal(DeferOutcome.Stale, await store.DeferAsync(claim.Lease with { Token = "someone-else" }, 1, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1)).Bounded());
        var after = await harness.Db.HashGetAllAsync(harness.Keys.Job(jobId)).Bounded();
        Assert.Equal(before.OrderBy(e => (string)e.Name!), after.OrderBy(e => (string)e.Name!));
        Assert.Equal(due, (await harness.Db.SortedSetScoreAsync(harness.Keys.Delayed, jobId).Bounded())!.Value);
        Assert.Equal(1, await harness.Db.SortedSetLengthAsync(harness.Keys.Delayed).Bounded());
        Assert.Equal(0, await harness.StreamLengthAsync());
    }

    /// <summary>
    /// A cancel that meets a job whose attempt waits for its deployment flags it (the job is
    /// processing); the deferral then ends it canceled, its attempt taken back, instead of parking it
    /// queued for the whole wait until the claim after it.
    /// </summary>
    [Fact]
    public async Task Defer_OfAJobWhoseCancelWasRequested_CancelsItNow_ResentAnswersTheSame()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (claim, store) = await ClaimOneAsync(harness);
        var jobId = claim.Lease.JobId;

        Assert.Equal(CancelOutcome.Requested, await store.CancelAsync(jobId).Bounded());
        Assert.Equal(DeferOutcome.Canceled, await store.DeferAsync(claim.Lease, 1, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10)).Bounded());

        var job = await harness.GetAsync(jobId);
        Assert.Equal(JobStatus.Canceled, job.Status);
        Assert.Equal(0, job.Attempts);
        Assert.Empty(job.History);
        Assert.NotNull(job.CompletedAt);
        Assert.Null(job.NextAttemptAt);
        Assert.Equal(0, await harness.Db.SortedSetLengthAsync(harness.Keys.Delayed).Bounded());
        Assert.Equal(0, await harness.StreamLengthAsync());
        Assert.Equal(0, await harness.PendingCountAsync());
        var hash = await harness.Db.HashGetAllAsync(harness.Keys.Job(jobId)).Bounded();
        Assert.DoesNotContain(hash, e => e.Name == "lease" || e.Name == "booking");

        // Sent again (its reply lost): the same answer, nothing written.
        Assert.Equal(DeferOutcome.Canceled, await store.DeferAsync(claim.Lease, 1, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10)).Bounded());
        var after = await harness.Db.HashGetAllAsync(harness.Keys.Job(jobId)).Bounded();
        Assert.Equal(hash.OrderBy(e => (string)e.Name!), after.OrderBy(e => (string)e.Name!));

        // Final: it no longer counts against the tenant's bound on jobs not yet final.
        var next = await store.SubmitAsync(WorkerHarness.NewJob("One more.", MaxAttempts), idempotency: null, maxQueuedJobs: 1).Bounded();
        Assert.Equal(SubmitOutcome.Created, next.Outcome);
    }

    /// <summary>
    /// A job that waited for its deployment's capacity goes on before its tenant's jobs submitted during
    /// the wait that are still queued (it went behind all of them); a retry after a failure still goes
    /// behind them.
    /// </summary>
    [Fact]
    public async Task Promote_AfterACapacityWait_KeepsItsSubmissionsPlace_ARetryGoesLast()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (claim, store) = await ClaimOneAsync(harness);
        var waited = claim.Lease.JobId;
        Assert.Equal(DeferOutcome.Deferred, await store.DeferAsync(claim.Lease, 1, TimeSpan.Zero, TimeSpan.Zero).Bounded());
        var later = await harness.SubmitAsync(MaxAttempts);

        await AsyncWait.WaitUntilAsync(async () => (await store.PromoteDueAsync(100).Bounded()).Promoted == 1, TimeSpan.FromSeconds(10), "the waiting job is promoted");

        Assert.Equal([waited, later], await ReadyAsync(harness));
        Assert.False(await harness.Db.HashExistsAsync(harness.Keys.Job(waited), "placeAt").Bounded());

        // Its first attempt fails: the retry joins the back, behind the later job, as before.
        var delivery = Assert.Single(await store.DispatchAsync("worker-b", 1, TimeSpan.FromMinutes(10)).Bounded());
        Assert.Equal(waited, delivery.JobId);
        var again = await store.ClaimAsync(delivery, "worker-b", startAttempt: true).Bounded();
        var retry = AttemptFinish.Retrying(again.Lease, 1, AttemptOutcome.TransientFailure, new JobError("transient", "503"), TimeSpan.Zero, toDelayedSet: true);
        Assert.True(await store.FinishAttemptAsync(retry).Bounded());
        await AsyncWait.WaitUntilAsync(async () => (await store.PromoteDueAsync(100).Bounded()).Promoted == 1, TimeSpan.FromSeconds(10), "the retry is promoted");

        Assert.Equal([later, waited], await ReadyAsync(harness));
    }

    [Fact]
    public async Task Promote_BrokenJobGone_SetAside_OthersPromoted()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (claim, store) = await ClaimOneAsync(harness);
        var good = claim.Lease.JobId;
        Assert.Equal(DeferOutcome.Deferred, await store.DeferAsync(claim.Lease, 1, TimeSpan.Zero, TimeSpan.Zero).Bounded());

        // A member whose job key holds a string, and one whose job has expired: both are due.
        var broken = JobIds.New();
        await harness.Db.StringSetAsync(harness.Keys.Job(broken), "not a hash").Bounded();
        await harness.Db.SortedSetAddAsync(harness.Keys.Delayed, [new(broken, 0), new(JobIds.New(), 0)]).Bounded();

        var (promoted, examined) = await store.PromoteDueAsync(100).Bounded();

        Assert.Equal(1, promoted);
        Assert.Equal(3, examined);
        Assert.Equal(0, await harness.Db.SortedSetLengthAsync(harness.Keys.Delayed).Bounded());
        var ready = Assert.Single(await harness.Db.SortedSetRangeByRankAsync(harness.Keys.Ready(TenantNames.Default)).Bounded());
        Assert.Equal(good, (string?)ready);
        // The broken job is dead-lettered with the others' promotion untouched.
        Assert.True(await harness.Db.SortedSetScoreAsync(harness.Keys.DeadLetters, broken).Bounded() is not null);
    }

    [Fact]
    public async Task Submit_BacklogBound_CountsJobsWaitingInTheDelayedSet()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (claim, store) = await ClaimOneAsync(harness);
        Assert.Equal(DeferOutcome.Deferred, await store.DeferAsync(claim.Lease, 1, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)).Bounded());
        Assert.Equal(0, await harness.StreamLengthAsync());

        // One job not yet final, waiting outside the stream: a bound of 1 is reached.
        var refused = await store.SubmitAsync(WorkerHarness.NewJob("One more.", MaxAttempts), idempotency: null, maxQueuedJobs: 1).Bounded();
        Assert.Equal(SubmitOutcome.QueueFull, refused.Outcome);
        Assert.Equal(1, refused.QueuedJobs);

        var accepted = await store.SubmitAsync(WorkerHarness.NewJob("One more.", MaxAttempts), idempotency: null, maxQueuedJobs: 2).Bounded();
        Assert.Equal(SubmitOutcome.Created, accepted.Outcome);
    }

    private static async Task<string[]> ReadyAsync(WorkerHarness harness) =>
        [.. (await harness.Db.SortedSetRangeByRankAsync(harness.Keys.Ready(TenantNames.Default)).Bounded()).Select(v => (string)v!)];

    private static async Task<(ClaimResult Claim, JobStore Store)> ClaimOneAsync(WorkerHarness harness)
    {
        var claim = await harness.ClaimOneAsync(MaxAttempts);
        Assert.Equal(1, await harness.PendingCountAsync());
        return (claim, harness.Store);
    }
}

using Orchestrator.IntegrationTests.Worker;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// A job's history lives in its hash (field <c>attempt:&lt;n&gt;</c>); a job whose attempt started
/// before that, with its entry in the list <c>&lt;job&gt;:attempts</c>, is carried on: the entry is
/// closed where it is, later attempts go into the hash, the API reads both in order, and the list
/// expires with the job. The earlier layout is made here as it was stored: the attempt's entry
/// moved from the hash into the list.
/// </summary>
public sealed class HistoryLayoutTests
{
    private static readonly JobResult Result = new("done", "model", new TokenUsage(3, 2));

    [Fact]
    public async Task AttemptInTheList_RetriedThenCompleted_ClosedInTheList_NextInTheHash_ListExpiresWithTheJob()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var claim = await harness.ClaimOneAsync(maxAttempts: 3);
        var lease = claim.Lease;
        await MoveToListAsync(harness, lease.JobId, attempt: 1);

        var error = new JobError("transient", "503 from the provider");
        Assert.True(await harness.Store.ScheduleRetryAsync(lease, 1, AttemptOutcome.TransientFailure, error, TimeSpan.Zero).Bounded());
        Assert.Equal((StartAttemptOutcome.Started, 2), await harness.Store.StartAttemptAsync(lease, 2).Bounded());
        Assert.True(await harness.Store.CompleteAsync(lease, 2, Result).Bounded());

        var job = await harness.GetAsync(lease.JobId);
        Assert.Equal(JobStatus.Completed, job.Status);
        Assert.Equal([1, 2], job.History.Select(a => a.Attempt));
        Assert.Equal([AttemptOutcome.TransientFailure, AttemptOutcome.Succeeded], job.History.Select(a => a.Outcome));
        var listed = Assert.Single(await harness.Db.ListRangeAsync(harness.Keys.History(lease.JobId)).Bounded());
        Assert.Contains("\"outcome\":\"transient-failure\"", (string)listed!, StringComparison.Ordinal);
        Assert.False(await harness.Db.HashExistsAsync(harness.Keys.Job(lease.JobId), "attempt:1").Bounded());
        Assert.True(await harness.Db.HashExistsAsync(harness.Keys.Job(lease.JobId), "attempt:2").Bounded());
        await AssertExpiresWithTheJobAsync(harness, lease.JobId);
    }

    [Fact]
    public async Task AttemptInTheList_WorkerLost_ClaimClosesItInTheList_NextAttemptInTheHash_ListExpiresWithTheJob()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var claim = await harness.ClaimOneAsync(maxAttempts: 3);
        await MoveToListAsync(harness, claim.Lease.JobId, attempt: 1);

        // Another worker takes the entry over, as reclaim does once the first one's lease lapsed.
        var reclaim = await harness.Store.ClaimAsync(new Delivery(claim.Lease.EntryId, claim.Lease.JobId, Reclaimed: true), "worker-b", startAttempt: true).Bounded();
        Assert.Equal(ClaimOutcome.Claimed, reclaim.Outcome);
        Assert.Equal(0, reclaim.StartedAttempt);
        Assert.Equal((StartAttemptOutcome.Started, 2), await harness.Store.StartAttemptAsync(reclaim.Lease, 2, alone: true).Bounded());
        Assert.True(await harness.Store.CompleteAsync(reclaim.Lease, 2, Result).Bounded());

        var job = await harness.GetAsync(claim.Lease.JobId);
        Assert.Equal([1, 2], job.History.Select(a => a.Attempt));
        Assert.Equal([AttemptOutcome.WorkerLost, AttemptOutcome.Succeeded], job.History.Select(a => a.Outcome));
        var listed = Assert.Single(await harness.Db.ListRangeAsync(harness.Keys.History(claim.Lease.JobId)).Bounded());
        Assert.Contains("\"outcome\":\"worker-lost\"", (string)listed!, StringComparison.Ordinal);
        Assert.False(await harness.Db.HashExistsAsync(harness.Keys.Job(claim.Lease.JobId), "attempt:1").Bounded());
        Assert.True(await harness.Db.HashExistsAsync(harness.Keys.Job(claim.Lease.JobId), "attempt:2").Bounded());
        await AssertExpiresWithTheJobAsync(harness, claim.Lease.JobId);
    }

    [Fact]
    public async Task AttemptInTheList_ReleasedAtShutdown_ClosedInTheList_NextAttemptInTheHash_ListExpiresWithTheJob()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var claim = await harness.ClaimOneAsync(maxAttempts: 1);
        await MoveToListAsync(harness, claim.Lease.JobId, attempt: 1);

        Assert.Equal(ReleaseOutcome.AttemptReleased, await harness.Store.ReleaseAsync(claim.Lease).Bounded());
        var next = await harness.Store.ClaimAsync(new Delivery(claim.Lease.EntryId, claim.Lease.JobId, Reclaimed: true), "worker-b", startAttempt: true).Bounded();
        Assert.Equal(2, next.StartedAttempt);
        Assert.True(await harness.Store.CompleteAsync(next.Lease, 2, Result).Bounded());

        var job = await harness.GetAsync(claim.Lease.JobId);
        Assert.Equal([AttemptOutcome.Released, AttemptOutcome.Succeeded], job.History.Select(a => a.Outcome));
        var listed = Assert.Single(await harness.Db.ListRangeAsync(harness.Keys.History(claim.Lease.JobId)).Bounded());
        Assert.Contains("\"outcome\":\"released\"", (string)listed!, StringComparison.Ordinal);
        Assert.False(await harness.Db.HashExistsAsync(harness.Keys.Job(claim.Lease.JobId), "attempt:1").Bounded());
        await AssertExpiresWithTheJobAsync(harness, claim.Lease.JobId);
    }

    [Fact]
    public async Task AttemptInTheList_Deferred_TakenBackFromTheList()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var claim = await harness.ClaimOneAsync(maxAttempts: 3);
        await MoveToListAsync(harness, claim.Lease.JobId, attempt: 1);

        Assert.Equal(DeferOutcome.Deferred, await harness.Store.DeferAsync(claim.Lease, 1, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)).Bounded());

        var job = await harness.GetAsync(claim.Lease.JobId);
        Assert.Equal(JobStatus.Queued, job.Status);
        Assert.Empty(job.History);
        Assert.Equal(0, await harness.Db.ListLengthAsync(harness.Keys.History(claim.Lease.JobId)).Bounded());
    }

    [Fact]
    public async Task AttemptInTheHash_Deferred_TakenBackFromTheHash()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var claim = await harness.ClaimOneAsync(maxAttempts: 3);
        Assert.True(await harness.Db.HashExistsAsync(harness.Keys.Job(claim.Lease.JobId), "attempt:1").Bounded());

        Assert.Equal(DeferOutcome.Deferred, await harness.Store.DeferAsync(claim.Lease, 1, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)).Bounded());

        Assert.Empty((await harness.GetAsync(claim.Lease.JobId)).History);
        Assert.False(await harness.Db.HashExistsAsync(harness.Keys.Job(claim.Lease.JobId), "attempt:1").Bounded());
        Assert.False(await harness.Db.KeyExistsAsync(harness.Keys.History(claim.Lease.JobId)).Bounded());
    }

    // The attempt's entry where the earlier layout kept it: in the job's list, not its hash.
    private static async Task MoveToListAsync(WorkerHarness harness, string jobId, int attempt)
    {
        var field = $"attempt:{attempt}";
        var entry = await harness.Db.HashGetAsync(harness.Keys.Job(jobId), field).Bounded();
        Assert.True(entry.HasValue, $"attempt {attempt} has no entry in the job's hash");
        await harness.Db.HashDeleteAsync(harness.Keys.Job(jobId), field).Bounded();
        await harness.Db.ListRightPushAsync(harness.Keys.History(jobId), entry).Bounded();
    }

    private static async Task AssertExpiresWithTheJobAsync(WorkerHarness harness, string jobId)
    {
        var jobTtl = await harness.Db.KeyTimeToLiveAsync(harness.Keys.Job(jobId)).Bounded();
        var listTtl = await harness.Db.KeyTimeToLiveAsync(harness.Keys.History(jobId)).Bounded();
        Assert.NotNull(jobTtl);
        Assert.NotNull(listTtl);
        Assert.InRange(listTtl.Value, jobTtl.Value - TimeSpan.FromMinutes(1), jobTtl.Value + TimeSpan.FromMinutes(1));
    }
}

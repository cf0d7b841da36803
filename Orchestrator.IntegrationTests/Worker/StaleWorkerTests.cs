using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// A worker that lost its lease (paused, partitioned) and comes back must not change the job: every
/// write is fenced by the lease token of the latest claim.
/// </summary>
[Collection(RedisFaultProcessCollection.Name)]
public sealed class StaleWorkerTests
{
    private static readonly JobResult StaleResult = new("stale answer", "stale-model", new TokenUsage(1, 1));
    private static readonly JobResult FreshResult = new("fresh answer", "fresh-model", new TokenUsage(2, 2));

    [Fact]
    public async Task StoreLevel_ReclaimedJob_RejectsEveryWriteOfTheEarlierLease()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().WaitAsync(WorkerHarness.CommandTimeout, TestContext.Current.CancellationToken);
        var jobId = await harness.SubmitAsync(maxAttempts: 5);
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString)
            .WaitAsync(WorkerHarness.CommandTimeout, TestContext.Current.CancellationToken);

        // Worker A reads, claims and starts attempt 1 ...
        var delivery = Assert.Single(await store.ReadNewAsync("worker-a", 10, TimeSpan.FromMilliseconds(100)).Bounded());
        var claimA = await store.ClaimAsync(delivery, "worker-a").Bounded();
        Assert.Equal(ClaimOutcome.Claimed, claimA.Outcome);
        var leaseA = claimA.Lease;
        Assert.Equal((StartAttemptOutcome.Started, 1), await store.StartAttemptAsync(leaseA, 1).Bounded());

        // ... then stalls; worker B's reclaim takes the entry over (idle time 0 stands in for a lapsed lease).
        var reclaimed = Assert.Single(await store.ReclaimExpiredAsync("worker-b", TimeSpan.Zero, 10).Bounded());
        Assert.Equal(delivery.EntryId, reclaimed.EntryId);
        var claimB = await store.ClaimAsync(reclaimed, "worker-b").Bounded();
        Assert.Equal(ClaimOutcome.Claimed, claimB.Outcome);
        var leaseB = claimB.Lease;
        Assert.NotEqual(leaseA.Token, leaseB.Token);
        Assert.Equal(JobStatus.Retrying, claimB.Job!.Status);

        // A comes back: nothing it does lands.
        Assert.Equal(LeaseRenewal.Lost, await store.RenewLeaseAsync(leaseA).Bounded());
        Assert.False(await store.CompleteAsync(leaseA, 1, StaleResult).Bounded());
        Assert.False(await store.ScheduleRetryAsync(leaseA, 1, AttemptOutcome.TransientFailure, new JobError("transient", "stale"), TimeSpan.FromSeconds(1)).Bounded());
        Assert.False(await store.FailAsync(leaseA, 1, AttemptOutcome.PermanentFailure, new JobError("invalid-request", "stale")).Bounded());
        Assert.Equal(ReleaseOutcome.Stale, await store.ReleaseAsync(leaseA).Bounded());
        Assert.Equal(StartAttemptOutcome.LeaseLost, (await store.StartAttemptAsync(leaseA, 2).Bounded()).Outcome);

        var afterStale = await harness.GetAsync(jobId);
        Assert.Equal(JobStatus.Retrying, afterStale.Status);
        Assert.Equal(1, afterStale.Attempts);
        Assert.Equal([AttemptOutcome.WorkerLost], afterStale.History.Select(a => a.Outcome));
        Assert.Null(afterStale.Result);
        // A's renewal must not have taken the stream entry back: B still owns it.
        var pending = await harness.Db.StreamPendingMessagesAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, 10, "worker-b").Bounded();
        Assert.Equal(delivery.EntryId, (string?)Assert.Single(pending).MessageId);

        // B's attempt 2 runs and completes.
        Assert.Equal(LeaseRenewal.Held, await store.RenewLeaseAsync(leaseB).Bounded());
        Assert.Equal((StartAttemptOutcome.Started, 2), await store.StartAttemptAsync(leaseB, 2).Bounded());
        Assert.True(await store.CompleteAsync(leaseB, 2, FreshResult).Bounded());

        // A's late completion, after B finished, is still rejected and overwrites nothing.
        Assert.False(await store.CompleteAsync(leaseA, 1, StaleResult).Bounded());
        Assert.False(await store.CompleteAsync(leaseA, 2, StaleResult).Bounded());
        var job = await harness.GetAsync(jobId);
        Assert.Equal(JobStatus.Completed, job.Status);
        Assert.Equal(FreshResult, job.Result);
        Assert.Equal([AttemptOutcome.WorkerLost, AttemptOutcome.Succeeded], job.History.Select(a => a.Outcome));
        Assert.Equal(0, await harness.StreamLengthAsync());
    }

    [Fact]
    public async Task StoreLevel_LeaseHolderWithStaleAttemptNumber_IsRejected()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        var jobId = await harness.SubmitAsync(maxAttempts: 5);
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString)
            .WaitAsync(WorkerHarness.CommandTimeout, TestContext.Current.CancellationToken);
        var delivery = Assert.Single(await store.ReadNewAsync("worker-a", 10, TimeSpan.FromMilliseconds(100)).Bounded());
        var lease = (await store.ClaimAsync(delivery, "worker-a").Bounded()).Lease;
        Assert.Equal((StartAttemptOutcome.Started, 1), await store.StartAttemptAsync(lease, 1).Bounded());
        Assert.True(await store.ScheduleRetryAsync(lease, 1, AttemptOutcome.TransientFailure, new JobError("transient", "overloaded"), TimeSpan.Zero).Bounded());
        Assert.Equal((StartAttemptOutcome.Started, 2), await store.StartAttemptAsync(lease, 2).Bounded());

        // A duplicate record for attempt 1 (a retried write whose first try did land) changes nothing.
        Assert.False(await store.CompleteAsync(lease, 1, StaleResult).Bounded());
        Assert.True(await store.CompleteAsync(lease, 2, FreshResult).Bounded());
        Assert.False(await store.CompleteAsync(lease, 2, StaleResult).Bounded());

        var job = await harness.GetAsync(jobId);
        Assert.Equal(FreshResult, job.Result);
        Assert.Equal([AttemptOutcome.TransientFailure, AttemptOutcome.Succeeded], job.History.Select(a => a.Outcome));
    }

    /// <param name="staleLeaseTimeout">
    /// The paused worker's own lease setting. At 1 s it renews every ~330 ms, so on resuming a
    /// renewal is what finds the job gone. At 60 s it renews only every 20 s: its LLM call ends
    /// first and the completion it then writes is what is refused (at 30 s a CI run resumed it just as
    /// its renewal came due, 10 s after its start, and the renewal noticed first). (The fresh worker
    /// reclaims after its own 1 s either way: the stale worker's record in the fleet's leases is
    /// dropped first, see below.)
    /// </param>
    /// <param name="noticedBy">The logger category that reports the lost lease.</param>
    [Theory]
    [InlineData("00:00:01", "LeaseKeeper")]
    [InlineData("00:01:00", "JobProcessor")]
    public async Task ProcessLevel_WorkerPausedPastItsLease_ResumesWithoutOverwritingTheResult(string staleLeaseTimeout, string noticedBy)
    {
        await using var harness = await WorkerHarness.StartAsync();
        // The stale worker's call outlasts the lease several times over; the fresh worker is quick.
        // The model name tells whose answer was stored.
        var stale = await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:03",
            ["Simulator:Model"] = "stale-model",
            ["Worker:LeaseTimeout"] = staleLeaseTimeout,
            ["Worker:ReclaimInterval"] = "00:00:00.2",
        }, "stale-worker");
        var jobId = await harness.SubmitAsync(maxAttempts: 5);
        await AsyncWait.WaitUntilAsync(async () => (await harness.GetAsync(jobId)).Status == JobStatus.Processing,
            TimeSpan.FromSeconds(30), "the stale worker is running attempt 1", TimeSpan.FromMilliseconds(20));

        stale.Pause();
        // Its record in the fleet's leases dropped, as it lapses 3 of its leases after the worker was
        // last seen: with it, the fresh worker would reclaim only after the stale worker's 60 s, and
        // the resumed worker's renewal, overdue by then, would race its write to notice.
        await harness.Db.KeyDeleteAsync(harness.Keys.FleetLeases);
        try
        {
            await harness.StartWorkerAsync(new Dictionary<string, string>
            {
                ["Simulator:FailureRate"] = "0",
                ["Simulator:Latency"] = "00:00:00.05",
                ["Simulator:Model"] = "fresh-model",
                ["Worker:LeaseTimeout"] = "00:00:01",
                ["Worker:ReclaimInterval"] = "00:00:00.2",
            }, "fresh-worker");
            await harness.WaitUntilAllFinalAsync([jobId], TimeSpan.FromSeconds(60));
            // Let the stale worker's 3 s call run out on the wall clock while it is frozen.
            var completed = await harness.GetAsync(jobId);
            await AsyncWait.WaitUntilAsync(() => DateTimeOffset.UtcNow > completed.History[0].StartedAt.AddSeconds(4),
                TimeSpan.FromSeconds(10), "the stale worker's call is overdue");
        }
        finally
        {
            stale.Resume();
        }

        var before = await harness.GetAsync(jobId);
        Assert.Equal(JobStatus.Completed, before.Status);
        Assert.Equal("fresh-model", before.Result?.Model);

        // The resumed worker finds out it lost the job (a renewal or its write is refused) and says so.
        await AsyncWait.WaitUntilAsync(() => stale.Output.Contains("lease lost to another worker", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the resumed worker logs that it lost the lease");
        Assert.Contains(stale.Output.Split('\n'), line =>
            line.Contains("lease lost to another worker", StringComparison.Ordinal) && line.Contains($".{noticedBy}[", StringComparison.Ordinal));

        var after = await harness.GetAsync(jobId);
        Assert.False(stale.HasExited, "the resumed worker keeps running");
        Assert.Equal(JobStatus.Completed, after.Status);
        Assert.Equal("fresh-model", after.Result?.Model);
        Assert.Equal(before.CompletedAt, after.CompletedAt);
        Assert.Equal(before.UpdatedAt, after.UpdatedAt);
        Assert.Equal([AttemptOutcome.WorkerLost, AttemptOutcome.Succeeded], after.History.Select(a => a.Outcome));
        Assert.Equal(2, after.Attempts);
        Assert.Empty(stale.CompletedJobIds());
    }
}

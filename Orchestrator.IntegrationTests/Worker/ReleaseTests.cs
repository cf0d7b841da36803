using Orchestrator.IntegrationTests.Infrastructure;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// release.lua, the hand-back at shutdown, against a real redis-server: a call cut off when the host's
/// shutdown timeout ends is closed as <c>released</c> in the same step, not charged, and the next claim
/// starts a fresh attempt instead of recording a worker-lost one. Fenced by the lease token; re-sent,
/// it answers as the first time and writes nothing.
/// Regression: the attempt stayed open, so the next claim closed it as worker-lost (a suspect; a crash
/// and a charged attempt when it had run alone).
/// </summary>
public sealed class ReleaseTests
{
    private static readonly TimeSpan Block = TimeSpan.FromMilliseconds(100);
    private static readonly JobResult Result = new("answer", "model", new TokenUsage(3, 2));

    [Fact]
    public async Task MidAttempt_ClosedAsReleasedNotCharged_NextClaimStartsAFreshAttempt()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        var (jobId, delivery) = await SubmitAndReadAsync(harness, maxAttempts: 1);
        // Run alone: a crash of this attempt would have been the job's (a charged attempt, a crash).
        var first = await store.ClaimAsync(delivery, "worker-a").Bounded();
        Assert.Equal((StartAttemptOutcome.Started, 1), await store.StartAttemptAsync(first.Lease, 1, alone: true).Bounded());

        var before = await RedisClock.NowAsync(harness.Db);
        Assert.Equal(ReleaseOutcome.AttemptReleased, await store.ReleaseAsync(first.Lease).Bounded());
        var after = await RedisClock.NowAsync(harness.Db);

        var released = await harness.GetAsync(jobId);
        Assert.Equal(JobStatus.Retrying, released.Status);
        Assert.Equal((1, 1, 0), (released.Attempts, released.UnchargedAttempts, released.Deliveries));
        var attempt = Assert.Single(released.History);
        Assert.Equal((AttemptOutcome.Released, "released"), (attempt.Outcome, attempt.Error?.Type));
        Assert.InRange(attempt.EndedAt!.Value, before, after);
        Assert.InRange(released.NextAttemptAt!.Value, before, after);
        Assert.False(released.Suspect);

        // The next worker takes it up at once and starts attempt 2: the budget of 1 is not spent.
        var taken = Assert.Single(await store.ReclaimExpiredAsync("worker-b", TimeSpan.FromSeconds(30), 10).Bounded());
        var second = await store.ClaimAsync(taken, "worker-b", startAttempt: true).Bounded();
        Assert.Equal((ClaimOutcome.Claimed, 2), (second.Outcome, second.StartedAttempt));
        Assert.True(second.Job!.HandedBack);
        Assert.False(second.Job.Suspect);
        Assert.False(await harness.Db.HashExistsAsync(harness.Keys.Job(jobId), "handedBack").Bounded());
        Assert.True(await store.CompleteAsync(second.Lease, 2, Result).Bounded());

        var job = await harness.GetAsync(jobId);
        Assert.Equal(JobStatus.Completed, job.Status);
        Assert.Equal([AttemptOutcome.Released, AttemptOutcome.Succeeded], job.History.Select(a => a.Outcome));
        Assert.Equal(0, (long)await harness.Db.HashGetAsync(harness.Keys.Job(jobId), "crashes").Bounded());
    }

    [Fact]
    public async Task WaitingForItsAttempt_HandedBackWithNothingClosed()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (jobId, delivery) = await SubmitAndReadAsync(harness, maxAttempts: 1);
        var claim = await harness.Store.ClaimAsync(delivery, "worker-a").Bounded();

        Assert.Equal(ReleaseOutcome.Released, await harness.Store.ReleaseAsync(claim.Lease).Bounded());

        var job = await harness.GetAsync(jobId);
        Assert.Equal((JobStatus.Queued, 0, 0), (job.Status, job.Attempts, job.UnchargedAttempts));
        Assert.Empty(job.History);
    }

    [Fact]
    public async Task SentAgainAfterAnotherWorkerTookTheJob_AnswersTheSameAndChangesNothing()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        var (jobId, delivery) = await SubmitAndReadAsync(harness, maxAttempts: 3);
        var first = await store.ClaimAsync(delivery, "worker-a", startAttempt: true).Bounded();
        Assert.Equal(1, first.StartedAttempt);
        Assert.Equal(ReleaseOutcome.AttemptReleased, await store.ReleaseAsync(first.Lease).Bounded());
        var taken = Assert.Single(await store.ReclaimExpiredAsync("worker-b", TimeSpan.FromSeconds(30), 10).Bounded());
        Assert.Equal(2, (await store.ClaimAsync(taken, "worker-b", startAttempt: true).Bounded()).StartedAttempt);
        var before = await StateAsync(harness, jobId);

        // The first reply was lost: worker A sends the release again.
        Assert.Equal(ReleaseOutcome.AttemptReleased, await store.ReleaseAsync(first.Lease).Bounded());

        Assert.Equal(before, await StateAsync(harness, jobId));
        Assert.Equal(JobStatus.Processing, (await harness.GetAsync(jobId)).Status);
    }

    [Fact]
    public async Task StaleLease_AfterAnotherWorkerReclaimedIt_ChangesNothing()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        var (jobId, delivery) = await SubmitAndReadAsync(harness, maxAttempts: 3);
        var first = await store.ClaimAsync(delivery, "worker-a", startAttempt: true).Bounded();
        // Worker A stalls past its lease (idle time 0 stands in for it); worker B takes the job.
        var lapsed = Assert.Single(await store.ReclaimExpiredAsync("worker-b", TimeSpan.Zero, 10).Bounded());
        Assert.Equal(ClaimOutcome.Claimed, (await store.ClaimAsync(lapsed, "worker-b").Bounded()).Outcome);
        var before = await StateAsync(harness, jobId);

        // A shuts down and hands back what it no longer holds.
        Assert.Equal(ReleaseOutcome.Stale, await store.ReleaseAsync(first.Lease).Bounded());

        Assert.Equal(before, await StateAsync(harness, jobId));
        Assert.Equal([AttemptOutcome.WorkerLost], (await harness.GetAsync(jobId)).History.Select(a => a.Outcome));
    }

    private static async Task<(string JobId, Delivery Delivery)> SubmitAndReadAsync(WorkerHarness harness, int maxAttempts)
    {
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        var jobId = await harness.SubmitAsync(maxAttempts);
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString).Bounded();
        var delivery = Assert.Single(await harness.Store.ReadNewAsync("worker-a", 10, Block).Bounded());
        Assert.Equal(jobId, delivery.JobId);
        return (jobId, delivery);
    }

    /// <summary>The job's hash, its events and who holds its pending entry (idle times left out).</summary>
    private static async Task<string> StateAsync(WorkerHarness harness, string jobId)
    {
        var hash = (await harness.Db.HashGetAllAsync(harness.Keys.Job(jobId)).Bounded()).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal);
        var events = await harness.Db.ListRangeAsync($"{harness.Keys.Job(jobId)}:eventlog").Bounded();
        var pending = await harness.Db.StreamPendingMessagesAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, 10, RedisValue.Null).Bounded();
        return string.Join('\n', [.. hash, .. events.Select(e => $"event {e}"), .. pending.Select(p => $"pending {p.MessageId} {p.ConsumerName} {p.DeliveryCount}")]);
    }
}

using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// The worker claims a job and starts its first attempt in one script (one round trip fewer per
/// job). The attempt must be exactly what a separate start-attempt records, and the claim must
/// start nothing it may not start: a job waiting for its retry time, or one out of attempts.
/// </summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class ClaimAndStartTests
{
    private const int MaxAttempts = 3;

    [Fact]
    public async Task ClaimWithStart_QueuedJob_RecordsAttemptOneBeforeAnyCall()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (jobId, delivery) = await SubmitAndReadAsync(harness);

        var claim = await harness.Store.ClaimAsync(delivery, "worker-a", startAttempt: true).Bounded();

        Assert.Equal(ClaimOutcome.Claimed, claim.Outcome);
        Assert.Equal(1, claim.StartedAttempt);
        // The job as the claim left it: its attempt started.
        Assert.Equal(JobStatus.Processing, claim.Job!.Status);
        Assert.Equal(1, claim.Job.Attempts);
        var job = await harness.GetAsync(jobId);
        Assert.Equal(JobStatus.Processing, job.Status);
        Assert.Equal(1, job.Attempts);
        Assert.NotNull(job.FirstAttemptAt);
        var attempt = Assert.Single(job.History);
        Assert.Equal(1, attempt.Attempt);
        Assert.Null(attempt.Outcome);

        // The started attempt is the lease holder's to finish, as one from start-attempt would be.
        Assert.True(await harness.Store.CompleteAsync(claim.Lease, 1, new JobResult("answer", "model", new TokenUsage(1, 1))).Bounded());
        Assert.Equal(JobStatus.Completed, (await harness.GetAsync(jobId)).Status);
    }

    [Fact]
    public async Task ClaimWithStart_JobWaitingForItsRetry_StartsNothing()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (jobId, delivery) = await SubmitAndReadAsync(harness);
        var first = await harness.Store.ClaimAsync(delivery, "worker-a", startAttempt: true).Bounded();
        Assert.True(await harness.Store.ScheduleRetryAsync(
            first.Lease, first.StartedAttempt, AttemptOutcome.TransientFailure, new JobError("transient", "overloaded"), TimeSpan.FromHours(1)).Bounded());

        // Worker A dies while waiting; B reclaims the entry long before the retry is due.
        var reclaimed = Assert.Single(await harness.Store.ReclaimExpiredAsync("worker-b", TimeSpan.Zero, 10).Bounded());
        var claim = await harness.Store.ClaimAsync(reclaimed, "worker-b", startAttempt: true).Bounded();

        Assert.Equal(ClaimOutcome.Claimed, claim.Outcome);
        Assert.Equal(0, claim.StartedAttempt);
        var job = await harness.GetAsync(jobId);
        Assert.Equal(JobStatus.Retrying, job.Status);
        Assert.Equal(1, job.Attempts);
        Assert.NotNull(job.NextAttemptAt);
        // B waits for the schedule, then starts attempt 2 itself.
        Assert.Equal((StartAttemptOutcome.Started, 2), await harness.Store.StartAttemptAsync(claim.Lease, 2).Bounded());
    }

    [Fact]
    public async Task ClaimWithStart_AttemptLostWithItsWorker_ClosesItAndClaimsTheJobAsASuspect()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (jobId, delivery) = await SubmitAndReadAsync(harness);
        var first = await harness.Store.ClaimAsync(delivery, "worker-a", startAttempt: true).Bounded();
        Assert.Equal(1, first.StartedAttempt);

        // Worker A dies mid-call; B takes the entry over.
        var reclaimed = Assert.Single(await harness.Store.ReclaimExpiredAsync("worker-b", TimeSpan.Zero, 10).Bounded());
        var claim = await harness.Store.ClaimAsync(reclaimed, "worker-b", startAttempt: true).Bounded();

        // A suspect (its worker died mid-attempt) is only claimed: B starts it once it runs nothing else.
        Assert.Equal(0, claim.StartedAttempt);
        Assert.True(claim.Job!.Suspect);
        Assert.Equal((StartAttemptOutcome.Started, 2), await harness.Store.StartAttemptAsync(claim.Lease, 2, alone: true).Bounded());
        var job = await harness.GetAsync(jobId);
        Assert.Equal(JobStatus.Processing, job.Status);
        Assert.Equal(2, job.Attempts);
        Assert.Equal(new string?[] { AttemptOutcome.WorkerLost, null }, job.History.Select(a => a.Outcome));
        // A's late answer is fenced out; B's lands.
        Assert.False(await harness.Store.CompleteAsync(first.Lease, 1, new JobResult("stale", "model", new TokenUsage(1, 1))).Bounded());
        Assert.True(await harness.Store.CompleteAsync(claim.Lease, 2, new JobResult("fresh", "model", new TokenUsage(1, 1))).Bounded());
    }

    [Fact]
    public async Task ClaimWithStart_EveryAttemptLost_DeadLettersWhenAttemptsRunOut()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (jobId, delivery) = await SubmitAndReadAsync(harness);

        // Each attempt runs alone and is lost with its worker; crashes are not capped here (max crashes above the budget).
        for (var crash = 1; crash <= MaxAttempts; crash++)
        {
            var claim = await harness.Store.ClaimAsync(delivery, $"worker-{crash}", maxCrashes: 100).Bounded();
            Assert.Equal((StartAttemptOutcome.Started, crash), await harness.Store.StartAttemptAsync(claim.Lease, crash, alone: true).Bounded());
            delivery = Assert.Single(await harness.Store.ReclaimExpiredAsync($"worker-{crash + 1}", TimeSpan.Zero, 10).Bounded());
        }

        var last = await harness.Store.ClaimAsync(delivery, "worker-last", startAttempt: true, maxCrashes: 100).Bounded();

        Assert.Equal(ClaimOutcome.DeadLettered, last.Outcome);
        Assert.Equal(0, last.StartedAttempt);
        var job = await harness.GetAsync(jobId);
        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Equal(MaxAttempts, job.Attempts);
        Assert.Equal("attempts-exhausted", job.Error?.Type);
        Assert.Equal(Enumerable.Repeat(AttemptOutcome.WorkerLost, MaxAttempts), job.History.Select(a => a.Outcome));
    }

    private static async Task<(string JobId, Delivery Delivery)> SubmitAndReadAsync(WorkerHarness harness)
    {
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        var jobId = await harness.SubmitAsync(MaxAttempts);
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString).Bounded();
        var delivery = Assert.Single(await harness.Store.ReadNewAsync("worker-0", 10, TimeSpan.FromMilliseconds(100)).Bounded());
        Assert.Equal(jobId, delivery.JobId);
        return (jobId, delivery);
    }
}

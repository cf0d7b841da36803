using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// A job whose deliveries keep dying (the worker crashes on it every time) is dead-lettered after
/// Retry:MaxAttempts deliveries instead of taking workers down forever. Driven at the store level:
/// each "crash" is a claim that never records an outcome, followed by a reclaim.
/// </summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class PoisonJobTests
{
    private const int MaxAttempts = 3;

    [Fact]
    public async Task CrashBeforeAttemptStarts_EveryDelivery_DeadLettersAsPoisonJob()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (jobId, delivery) = await SubmitAndReadAsync(harness);

        for (var crash = 1; crash <= MaxAttempts; crash++)
        {
            var claim = await harness.Store.ClaimAsync(delivery, $"worker-{crash}").Bounded();
            Assert.Equal(ClaimOutcome.Claimed, claim.Outcome);
            // The worker dies here, before recording attempt 1. Another worker reclaims the entry.
            delivery = Assert.Single(await harness.Store.ReclaimExpiredAsync($"worker-{crash + 1}", TimeSpan.Zero, 10).Bounded());
        }

        var last = await harness.Store.ClaimAsync(delivery, "worker-last").Bounded();

        Assert.Equal(ClaimOutcome.DeadLettered, last.Outcome);
        var job = await harness.GetAsync(jobId);
        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Equal("poison-job", job.Error?.Type);
        Assert.Equal(0, job.Attempts);
        Assert.Equal(MaxAttempts + 1, job.Deliveries);
        Assert.NotNull(job.CompletedAt);
        await AssertDeadLetteredAndOffTheStreamAsync(harness, jobId);
    }

    [Fact]
    public async Task CrashMidAttempt_AloneMaxCrashesTimes_DeadLettersAsPoisonJob()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (jobId, delivery) = await SubmitAndReadAsync(harness);

        // Crash 1 happens beside other jobs; the job is then a suspect, whose worker holds no other:
        // its group of one is alone, so crashes 2 and 3 are its own (after 2 it must run alone).
        for (var crash = 1; crash <= 1 + JobStore.DefaultMaxCrashes; crash++)
        {
            var claim = await harness.Store.ClaimAsync(delivery, $"worker-{crash}", startAttempt: true).Bounded();
            Assert.Equal(ClaimOutcome.Claimed, claim.Outcome);
            Assert.Equal(crash > 1, claim.Job!.Suspect);
            Assert.Equal(crash > 2, claim.Job.SuspectAlone);
            // A suspect is claimed without starting it: its worker starts it once it runs nothing else.
            Assert.Equal(crash == 1 ? 1 : 0, claim.StartedAttempt);
            if (crash > 1)
            {
                Assert.Equal((StartAttemptOutcome.Started, crash), await harness.Store.StartAttemptAsync(claim.Lease, crash, alone: true).Bounded());
            }

            // The worker dies mid-call.
            delivery = Assert.Single(await harness.Store.ReclaimExpiredAsync($"worker-{crash + 1}", TimeSpan.Zero, 10).Bounded());
        }

        var last = await harness.Store.ClaimAsync(delivery, "worker-last").Bounded();

        Assert.Equal(ClaimOutcome.DeadLettered, last.Outcome);
        // The claim answers the job it dead-lettered, for its worker's log line and metrics.
        Assert.Equal((jobId, 3, JobStatus.Failed), (last.Job!.Id, last.Job!.Attempts, last.Job!.Status));
        var job = await harness.GetAsync(jobId);
        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Equal("poison-job", job.Error?.Type);
        Assert.Equal(3, job.Attempts);
        Assert.Equal(Enumerable.Repeat(AttemptOutcome.WorkerLost, 3), job.History.Select(a => a.Outcome));
        Assert.All(job.History, a => Assert.NotNull(a.EndedAt));
        await AssertDeadLetteredAndOffTheStreamAsync(harness, jobId);
    }

    [Fact]
    public async Task CrashMidAttempt_AlwaysBesideOtherJobs_NeverChargedNorDeadLettered()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (jobId, delivery) = await SubmitAndReadAsync(harness);

        // More crashes than attempts, each while the job shared its process (first with ordinary jobs,
        // then with other suspects): none is the job's doing.
        for (var crash = 1; crash <= MaxAttempts + 1; crash++)
        {
            var claim = await harness.Store.ClaimAsync(delivery, $"worker-{crash}").Bounded();
            Assert.Equal(ClaimOutcome.Claimed, claim.Outcome);
            // Lost beside ordinary jobs: it runs in a group of suspects; lost in such a group: alone.
            Assert.Equal(crash > 1, claim.Job!.Suspect);
            Assert.Equal(crash > 2, claim.Job.SuspectAlone);
            Assert.Equal((StartAttemptOutcome.Started, crash), await harness.Store.StartAttemptAsync(claim.Lease, crash).Bounded());
            delivery = Assert.Single(await harness.Store.ReclaimExpiredAsync($"worker-{crash + 1}", TimeSpan.Zero, 10).Bounded());
        }

        var last = await harness.Store.ClaimAsync(delivery, "worker-last").Bounded();

        Assert.Equal(ClaimOutcome.Claimed, last.Outcome);
        Assert.True(last.Job!.Suspect);
        Assert.True(last.Job.SuspectAlone);
        Assert.Equal(MaxAttempts + 1, last.Job.UnchargedAttempts);
        var job = await harness.GetAsync(jobId);
        Assert.Equal(Enumerable.Repeat(AttemptOutcome.WorkerLost, MaxAttempts + 1), job.History.Select(a => a.Outcome));
        // Run alone, it still has its whole budget.
        Assert.Equal((StartAttemptOutcome.Started, MaxAttempts + 2), await harness.Store.StartAttemptAsync(last.Lease, MaxAttempts + 2, alone: true).Bounded());
    }

    [Fact]
    public async Task GracefulHandBacks_DoNotCountTowardsThePoisonCap()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (jobId, delivery) = await SubmitAndReadAsync(harness);

        // Many shutdowns in a row, each handing the job back: never a reason to dead-letter it.
        for (var handBack = 1; handBack <= MaxAttempts * 2; handBack++)
        {
            var claim = await harness.Store.ClaimAsync(delivery, $"worker-{handBack}").Bounded();
            Assert.Equal(ClaimOutcome.Claimed, claim.Outcome);
            Assert.Equal(ReleaseOutcome.Released, await harness.Store.ReleaseAsync(claim.Lease).Bounded());
            delivery = Assert.Single(await harness.Store.ReclaimExpiredAsync($"worker-{handBack + 1}", TimeSpan.FromSeconds(30), 10).Bounded());
        }

        var final = await harness.Store.ClaimAsync(delivery, "worker-last").Bounded();

        Assert.Equal(ClaimOutcome.Claimed, final.Outcome);
        Assert.Equal(1, (await harness.GetAsync(jobId)).Deliveries);
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

    private static async Task AssertDeadLetteredAndOffTheStreamAsync(WorkerHarness harness, string jobId)
    {
        var deadLetters = await harness.Store.ListDeadLettersAsync(50, cursor: null).Bounded();
        Assert.Contains(jobId, deadLetters.Items.Select(j => j.Id));
        Assert.Equal(0, await harness.StreamLengthAsync());
        Assert.Equal(0, await harness.PendingCountAsync());
    }
}

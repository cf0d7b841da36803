using Orchestrator.Jobs;
using Orchestrator.Llm.Simulation;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// A waiting job holds no worker slot and no lease (issue 15): real worker processes against the
/// simulator service over HTTP. A deployment in a 30 s cooldown does not stop another model's jobs
/// on a worker with two slots; jobs waiting in the delayed set survive the kill of the worker that
/// parked them; the bound on a job's rate-limit wait holds across workers.
/// </summary>
[Collection(ProviderProcessCollection.Name)]
public sealed class DelayedJobsTests
{
    [Fact]
    public async Task TwoSlots_OneDeploymentIn30sCooldown_OtherModelKeepsCompleting_WaitingJobsHoldNoSlot()
    {
        await using var harness = await WorkerHarness.StartAsync();
        // Deployment "slow" answers one request per 30 s (and 429 with Retry-After ~30 s beyond it);
        // the worker is not told: it learns the cooldown from the 429, as from a real provider.
        await using var slow = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.005",
            ["Simulator:RequestsPerMinute"] = "2",
            ["Simulator:Burst"] = "00:00:01",
            // A call sent before the 429 reached the worker may arrive late on a busy machine (a CI run
            // at load 18 took 4 s over a 5 ms call): only a call a second past a 429 could have known.
            ["Simulator:AnnouncementGrace"] = "00:00:01",
        });
        await using var fast = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.005",
        });
        var settings = ProviderSetup.Worker(slow, provider: "slow", models: [("slow-model", null)], more: new()
        {
            ["Worker:Concurrency"] = "2",
            ["Llm:MaxRateLimitWait"] = "00:10:00",
        });
        ProviderSetup.AddProvider(settings, "fast", fast, [("fast-model", null)]);
        _ = await harness.StartWorkerAsync(settings, "worker");

        var slowJobs = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            slowJobs.Add(await ProviderSetup.SubmitAsync(harness, new JobRequest($"Slow question {i}.", "slow-model", MaxTokens: 20)));
        }

        // The first slow job is answered; the others meet the deployment's ~30 s window and wait in the
        // delayed set: by the 429's cooldown, or by the limit the worker learnt from the answers'
        // headers when a job came back to it after a short wait (which of the two depends on timing).
        await AsyncWait.WaitUntilAsync(
            async () => await harness.Db.SortedSetLengthAsync(harness.Keys.Delayed).Bounded() == 3,
            TimeSpan.FromSeconds(30), "three slow-model jobs wait in the delayed set");
        var firstDue = (await harness.Db.SortedSetRangeByRankWithScoresAsync(harness.Keys.Delayed, 0, 0).Bounded()).Single().Score;
        var waitEnd = DateTimeOffset.FromUnixTimeMilliseconds((long)firstDue);
        Assert.InRange(waitEnd - DateTimeOffset.UtcNow, TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(31));

        // Two slots, three jobs waiting: only if waiting holds no slot can these complete now.
        var fastJobs = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            fastJobs.Add(await ProviderSetup.SubmitAsync(harness, new JobRequest($"Fast question {i}.", "fast-model", MaxTokens: 20)));
        }

        var done = await harness.WaitUntilAllFinalAsync(fastJobs, TimeSpan.FromSeconds(60));
        Assert.All(done, j => Assert.Equal(JobStatus.Completed, j.Status));
        Assert.True(DateTimeOffset.UtcNow < waitEnd, "the other model's jobs completed while the slow model's jobs waited");

        var waiting = (await harness.GetAllAsync(slowJobs)).Where(j => j.Status != JobStatus.Completed).ToList();
        Assert.Equal(3, waiting.Count);
        // Waiting, unspent: no attempt, no lease, nothing pending for them.
        Assert.All(waiting, j =>
        {
            Assert.Equal(JobStatus.Queued, j.Status);
            Assert.Equal(0, j.Attempts);
            Assert.NotNull(j.NextAttemptAt);
        });
        Assert.Equal(0, await harness.PendingCountAsync());

        // After the cooldown the next one is answered, on its first attempt. Within three of the
        // deployment's 30 s windows: on a busy machine the first call after the cooldown can reach the
        // simulator a millisecond inside its window, be refused (unspent) and wait for the next one.
        await AsyncWait.WaitUntilAsync(
            async () => (await harness.GetAllAsync(slowJobs)).Count(j => j.Status == JobStatus.Completed) >= 2,
            TimeSpan.FromSeconds(95), "a second slow-model job completes after the cooldown");
        Assert.All((await harness.GetAllAsync(slowJobs)).Where(j => j.Status == JobStatus.Completed), j => Assert.Equal(1, j.Attempts));
        Assert.Equal(0, (await slow.StatsAsync()).CallsInsideRetryAfterPastGrace);
    }

    [Fact]
    public async Task WorkerKilledWithJobsInTheDelayedSet_AnotherWorkerCompletesThemAll()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.005",
        });
        // Every job's first attempt fails; its 3 s retry delay is past the 0.2 s a worker waits with a job.
        var settings = ProviderSetup.Worker(simulator, more: new()
        {
            ["Retry:BaseDelay"] = "00:00:03",
            ["Worker:MaxInProcessDelay"] = "00:00:00.200",
        });
        var first = await harness.StartWorkerAsync(settings, "first");

        var ids = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            ids.Add(await ProviderSetup.SubmitAsync(harness, new JobRequest($"Question {i}.", "sim-model", MaxTokens: 20,
                Metadata: new Dictionary<string, string> { [SimulatorHints.FailFirstAttempts] = "1" })));
        }

        await AsyncWait.WaitUntilAsync(
            async () => await harness.Db.SortedSetLengthAsync(harness.Keys.Delayed).Bounded() == ids.Count,
            TimeSpan.FromSeconds(30), "every job waits for its retry in the delayed set");
        // Nothing held: no entry, no lease.
        Assert.Equal(0, await harness.StreamLengthAsync());
        Assert.Equal(0, await harness.PendingCountAsync());

        await first.KillAsync();
        _ = await harness.StartWorkerAsync(settings, "second");

        var jobs = await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(60));
        Assert.All(jobs, j =>
        {
            Assert.Equal(JobStatus.Completed, j.Status);
            Assert.Equal(2, j.Attempts);
            Assert.Equal([AttemptOutcome.TransientFailure, AttemptOutcome.Succeeded], j.History.Select(a => a.Outcome));
        });
        Assert.Equal(0, await harness.Db.SortedSetLengthAsync(harness.Keys.Delayed).Bounded());
        Assert.Equal(0, await harness.StreamLengthAsync());
    }

    [Fact]
    public async Task RateLimitedForever_DeferredAcrossTwoWorkers_WaitBoundHolds_FailsAsRateLimitedWithOneAttempt()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.005",
        });
        // Each 429 announces 1 s: past the 0.2 s a worker waits with a job, so every wait is spent in
        // the delayed set, and the job goes to whichever worker reads it next.
        var settings = ProviderSetup.Worker(simulator, more: new()
        {
            ["Llm:MaxRateLimitWait"] = "00:00:04",
            ["Worker:MaxInProcessDelay"] = "00:00:00.200",
        });
        _ = await harness.StartWorkerAsync(settings, "a");
        _ = await harness.StartWorkerAsync(settings, "b");

        var id = await ProviderSetup.SubmitAsync(harness, new JobRequest("Explain leases.", "sim-model",
            Metadata: new Dictionary<string, string> { [SimulatorHints.Error] = "rate_limit" }), maxAttempts: 5);
        var job = Assert.Single(await harness.WaitUntilAllFinalAsync([id], TimeSpan.FromSeconds(60)));

        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Equal("rate-limited", job.Error!.Type);
        // Waits spend no attempt: the one the job failed on is the only one.
        Assert.Equal(1, job.Attempts);
        // The bound is the job's (kept in the job hash), not each worker's: 4 s of budget hold four
        // waits of about 1 s, so the job calls 3 to 5 times in all (how many of the waits fit is a matter of milliseconds, as the in-process test reasons).
        Assert.InRange(job.RateLimitWait, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4));
        var stats = await simulator.StatsAsync();
        Assert.InRange(stats.Calls, 3, 5);
        Assert.Equal(stats.Calls, stats.RateLimited);
        Assert.Equal(0, stats.CallsInsideRetryAfterPastGrace);
    }
}

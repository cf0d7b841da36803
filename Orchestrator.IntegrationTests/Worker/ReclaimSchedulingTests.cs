using System.Diagnostics;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// A worker takes a dead worker's jobs over as their leases lapse: it reads when the other
/// consumers' leases lapse at the latest (their idle time) and brings its next reclaim round
/// forward to then, instead of finding them up to a <c>Worker:ReclaimInterval</c> later.
/// </summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class ReclaimSchedulingTests
{
    [Fact]
    public async Task NextLapse_IsTheSoonestOtherConsumersLeaseEnd_IgnoringSelfEmptyAndLapsedOnes()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        var lease = TimeSpan.FromSeconds(5);
        await harness.Db.ExecuteAsync("XGROUP", "CREATECONSUMER", harness.Keys.Stream, RedisKeys.ConsumerGroup, "empty").Bounded();
        await harness.Db.StreamAddAsync(harness.Keys.Stream, "jobId", "a").Bounded();
        await harness.Db.StreamAddAsync(harness.Keys.Stream, "jobId", "b").Bounded();
        var readAt = Stopwatch.GetTimestamp();
        var held = Assert.Single(await harness.Db.StreamReadGroupAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, "other", ">", 1).Bounded());
        Assert.Single(await harness.Db.StreamReadGroupAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, "self", ">", 1).Bounded());

        var lapse = await harness.Store.NextLapseAsync("self", lease).Bounded();
        var sinceRead = Stopwatch.GetElapsedTime(readAt);

        // "other" read its entry at most sinceRead ago (a busy machine may stretch that): its lease
        // lapses the rest of 5 s later (Redis counts idle time in whole milliseconds).
        Assert.NotNull(lapse);
        Assert.InRange(lapse.Value, lease - sinceRead - TimeSpan.FromMilliseconds(2), lease);
        // Leases already lapsed are the reclaim round's, not a reason to schedule one.
        var start = DateTime.UtcNow;
        await AsyncWait.WaitUntilAsync(() => DateTime.UtcNow - start > TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(5), "the consumers are idle a little");
        Assert.Null(await harness.Store.NextLapseAsync("self", TimeSpan.FromMilliseconds(20)).Bounded());
        // Once "other" holds nothing, only the caller's own entry is left: nothing to wait for.
        await harness.Db.StreamAcknowledgeAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, held.Id).Bounded();
        Assert.Null(await harness.Store.NextLapseAsync("self", lease).Bounded());
    }

    [Fact]
    public async Task WorkerKilled_IdleWorkerTakesItsJobsOverAsTheLeasesLapse_NotAReclaimIntervalLater()
    {
        await using var harness = await WorkerHarness.StartAsync();
        // The interval is the lease: without scheduling, the round after the lapse would come up to 6 s late.
        Dictionary<string, string> Settings(string latency) => new()
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = latency,
            ["Worker:LeaseTimeout"] = "00:00:06",
            ["Worker:ReclaimInterval"] = "00:00:06",
            ["Worker:Concurrency"] = "16",
        };
        // worker-1's calls outlast the scenario; worker-2 answers the jobs it takes over at once.
        var first = await harness.StartWorkerAsync(Settings("00:01:00"), "worker-1");
        var ids = await harness.SubmitManyAsync(8, maxAttempts: 3);
        await AsyncWait.WaitUntilAsync(
            async () => (await harness.GetAllAsync(ids)).All(j => j.Status == JobStatus.Processing),
            TimeSpan.FromSeconds(30), "worker-1 runs all 8 jobs", TimeSpan.FromMilliseconds(20));
        // worker-2 is up and idle (there is nothing else to do) before worker-1 dies. It makes a
        // reclaim round as it starts; the kill comes half an interval later, so the leases lapse
        // 4-6 s after the kill (renewed every 2 s) and its regular rounds come 3 s and 9 s after
        // it: unscheduled, the jobs start again 9 s after the kill (9.15 s measured with scheduling
        // off); scheduled, ~6 s (worker-1 read the stream until it died, and its idle time is what
        // the lapse is reckoned from: 6.10 s). The bound between leaves 1.4 s for a busy machine.
        // Not a wait for a condition: the phase of the scenario.
        await harness.StartWorkerAsync(Settings("00:00:00.05"), "worker-2");
        await Task.Delay(TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken);

        var killedAt = DateTimeOffset.UtcNow;
        await first.KillAsync();
        var jobs = await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(60));

        Assert.All(jobs, j => Assert.Equal([AttemptOutcome.WorkerLost, AttemptOutcome.Succeeded], j.History.Select(a => a.Outcome)));
        // Every lease was renewed or taken before the kill, so each lapsed within 6 s of it.
        var lastRetry = jobs.Max(j => j.History[1].StartedAt);
        Assert.True(lastRetry - killedAt < TimeSpan.FromSeconds(7.5),
            $"the last reclaimed job started {(lastRetry - killedAt).TotalSeconds:0.00} s after the kill (lease 6 s)");
    }

    /// <summary>
    /// A rolling change of <c>Worker:LeaseTimeout</c>: a worker with a 2 s lease beside one with 30 s
    /// (which renews every 10 s) takes none of its live jobs. It reclaimed on its own lease, and took
    /// them 2 s into their calls (an outside audit: a job taken from a healthy worker, paid twice).
    /// </summary>
    [Fact]
    public async Task ShorterLeaseBesideALongerOne_TakesNoneOfItsLiveJobs()
    {
        await using var harness = await WorkerHarness.StartAsync();
        Dictionary<string, string> Settings(string lease, string latency) => new()
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = latency,
            ["Worker:LeaseTimeout"] = lease,
            ["Worker:ReclaimInterval"] = "00:00:00.5",
            ["Worker:Concurrency"] = "4",
        };
        await harness.StartWorkerAsync(Settings("00:00:30", "00:00:08"), "long-lease");
        var ids = await harness.SubmitManyAsync(4, maxAttempts: 3);
        await AsyncWait.WaitUntilAsync(
            async () => (await harness.GetAllAsync(ids)).All(j => j.Status == JobStatus.Processing),
            TimeSpan.FromSeconds(30), "the long-lease worker runs all 4 jobs", TimeSpan.FromMilliseconds(20));
        await harness.StartWorkerAsync(Settings("00:00:02", "00:00:00.05"), "short-lease");

        var jobs = await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(60));

        Assert.All(jobs, j => Assert.Equal([AttemptOutcome.Succeeded], j.History.Select(a => a.Outcome)));
    }

    /// <summary>
    /// Calls three times as long as the lease, on two workers that reclaim every 0.5 s: each renews
    /// its leases every third of one (configuration.md), so neither takes the other's live jobs. A
    /// worker renewing later than its lease (an outside audit's mutation: every 1.5 leases) had 4 of
    /// 6 jobs taken over again and again, the call paid up to 4 times, and no test failed.
    /// </summary>
    [Fact]
    public async Task CallsThreeLeasesLong_TwoWorkers_RenewedInTime_EachJobOneAttempt()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var settings = new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:06",
            ["Worker:LeaseTimeout"] = "00:00:02",
            ["Worker:ReclaimInterval"] = "00:00:00.5",
            ["Worker:Concurrency"] = "4",
        };
        await Task.WhenAll(harness.StartWorkerAsync(settings, "worker-1"), harness.StartWorkerAsync(settings, "worker-2"));
        var ids = await harness.SubmitManyAsync(6, maxAttempts: 4);

        var jobs = await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(60));

        Assert.All(jobs, j => Assert.Equal([AttemptOutcome.Succeeded], j.History.Select(a => a.Outcome)));
    }
}

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
        var held = Assert.Single(await harness.Db.StreamReadGroupAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, "other", ">", 1).Bounded());
        Assert.Single(await harness.Db.StreamReadGroupAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, "self", ">", 1).Bounded());

        var lapse = await harness.Store.NextLapseAsync("self", lease).Bounded();

        // "other" read its entry a moment ago: its lease lapses in just under 5 s.
        Assert.NotNull(lapse);
        Assert.InRange(lapse.Value, TimeSpan.FromSeconds(4), lease);
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
        // The interval is the lease: without scheduling, the round after the lapse would come up to 3 s late.
        var settings = new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:05",
            ["Worker:LeaseTimeout"] = "00:00:03",
            ["Worker:ReclaimInterval"] = "00:00:03",
            ["Worker:Concurrency"] = "16",
        };
        var first = await harness.StartWorkerAsync(settings, "worker-1");
        var ids = await harness.SubmitManyAsync(8, maxAttempts: 3);
        await AsyncWait.WaitUntilAsync(
            async () => (await harness.GetAllAsync(ids)).All(j => j.Status == JobStatus.Processing),
            TimeSpan.FromSeconds(30), "worker-1 runs all 8 jobs", TimeSpan.FromMilliseconds(20));
        // worker-2 is up and idle (there is nothing else to do) before worker-1 dies. It makes a
        // reclaim round as it starts; the kill comes half an interval later, so the leases lapse
        // 2.5-3.5 s into the interval (renewed 0-1 s before the kill): its next regular round would
        // come 4.5 s after the kill. Not a wait for a condition: the phase of the scenario.
        await harness.StartWorkerAsync(settings, "worker-2");
        await Task.Delay(TimeSpan.FromSeconds(1.5), TestContext.Current.CancellationToken);

        var killedAt = DateTimeOffset.UtcNow;
        await first.KillAsync();
        var jobs = await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(60));

        Assert.All(jobs, j => Assert.Equal([AttemptOutcome.WorkerLost, AttemptOutcome.Succeeded], j.History.Select(a => a.Outcome)));
        // Every lease was renewed or taken before the kill, so each lapsed within 3 s of it.
        var lastRetry = jobs.Max(j => j.History[1].StartedAt);
        Assert.True(lastRetry - killedAt < TimeSpan.FromSeconds(3.8),
            $"the last reclaimed job started {(lastRetry - killedAt).TotalSeconds:0.00} s after the kill (lease 3 s)");
    }
}

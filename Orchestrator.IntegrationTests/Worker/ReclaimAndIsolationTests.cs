using System.Diagnostics;
using Orchestrator.Jobs;
using Orchestrator.Testing;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// Reclaim by cursor (a dead worker's jobs behind thousands of live pending entries are taken over
/// within the lease bound) and per-job isolation (a job that cannot be claimed or read is set aside
/// as corrupt; the rest of its batch completes), with real worker processes.
/// </summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class ReclaimAndIsolationTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ReclaimInterval = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task LapsedLeasesBehind5000LivePendingEntries_ReclaimedWithinLeasePlusIntervalPlusOneSecond()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var db = harness.Db;
        await harness.Store.EnsureConsumerGroupAsync().Bounded();

        // 5,000 live entries, held by a consumer that keeps renewing them, ahead of a worker's 5 jobs.
        const int live = 5_000;
        var batch = db.CreateBatch();
        var adds = Enumerable.Range(0, live).Select(i => batch.StreamAddAsync(harness.Keys.Stream, "jobId", $"live-{i}")).ToArray();
        batch.Execute();
        var liveIds = await Task.WhenAll(adds).Bounded();
        Assert.Equal(live, (await db.StreamReadGroupAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, "live", ">", live).Bounded()).Length);
        var deadJobs = await harness.SubmitManyAsync(5, maxAttempts: 3);
        var deadEntries = await harness.Store.ReadNewAsync("doomed", 10, TimeSpan.FromSeconds(1)).Bounded();
        Assert.Equal(5, deadEntries.Count);

        using var stopRenewing = new CancellationTokenSource();
        using var doomedDies = new CancellationTokenSource();
        var renewer = harness.KeepPendingFreshAsync("live", liveIds, stopRenewing.Token);
        var doomedRenewer = harness.KeepPendingFreshAsync("doomed", [.. deadEntries.Select(e => e.EntryId)], doomedDies.Token);

        try
        {
            await harness.StartWorkerAsync(new Dictionary<string, string>
            {
                ["Simulator:FailureRate"] = "0",
                ["Simulator:Latency"] = "00:00:00.05",
                ["Worker:Concurrency"] = "8",
                ["Worker:LeaseTimeout"] = Lease.ToString(),
                ["Worker:ReclaimInterval"] = ReclaimInterval.ToString(),
            }, "worker");

            // The doomed consumer dies now: its entries' idle time starts.
            await doomedDies.CancelAsync();
            await doomedRenewer.Bounded();
            await db.StreamClaimIdsOnlyAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, "doomed", 0, [.. deadEntries.Select(e => e.EntryId)]).Bounded();
            var died = Stopwatch.StartNew();
            var bound = Lease + ReclaimInterval + TimeSpan.FromSeconds(1);
            var claimedAt = new Dictionary<string, TimeSpan>();
            await AsyncWait.WaitUntilAsync(
                async () =>
                {
                    foreach (var job in await harness.GetAllAsync(deadJobs))
                    {
                        if (job.Deliveries > 0)
                        {
                            claimedAt.TryAdd(job.Id, died.Elapsed);
                        }
                    }

                    return claimedAt.Count == deadJobs.Count;
                },
                TimeSpan.FromSeconds(60), "every lapsed job is reclaimed", TimeSpan.FromMilliseconds(50));

            TestContext.Current.TestOutputHelper?.WriteLine($"reclaimed after {string.Join(", ", claimedAt.Values.Order().Select(t => $"{t.TotalMilliseconds:0} ms"))} (bound {bound.TotalMilliseconds:0} ms)");
            Assert.All(claimedAt.Values, t => Assert.True(t <= bound, $"reclaimed after {t}, later than {bound}"));
            var jobs = await harness.WaitUntilAllFinalAsync(deadJobs, TimeSpan.FromSeconds(60));
            Assert.All(jobs, j => Assert.Equal(JobStatus.Completed, j.Status));
        }
        finally
        {
            await stopRenewing.CancelAsync();
            await doomedDies.CancelAsync();
            await Task.WhenAll(renewer, doomedRenewer).Bounded();
        }
    }

    [Fact]
    public async Task CorruptJobsInABatch_SetAsideAsCorrupt_TheOthersComplete()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        var ids = await harness.SubmitManyAsync(20, maxAttempts: 3);
        // One job fails inside claim.lua (its attempt count is no number), one in the worker (its metadata is no JSON).
        var (luaCorrupt, parseCorrupt) = (ids[5], ids[12]);
        await harness.Db.HashSetAsync(harness.Keys.Job(luaCorrupt), "attempts", "x").Bounded();
        await harness.Db.HashSetAsync(harness.Keys.Job(parseCorrupt), "metadata", "{not json").Bounded();

        // Every job is queued before the worker starts: its first read takes them as one batch.
        var worker = await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.05",
            ["Worker:Concurrency"] = "32",
        }, "worker");

        var healthy = ids.Where(id => id != luaCorrupt && id != parseCorrupt).ToArray();
        var jobs = await harness.WaitUntilAllFinalAsync(healthy, TimeSpan.FromSeconds(60));
        Assert.All(jobs, j => Assert.Equal(JobStatus.Completed, j.Status));
        foreach (var id in new[] { luaCorrupt, parseCorrupt })
        {
            await AsyncWait.WaitUntilAsync(
                async () => (string?)await harness.Db.HashGetAsync(harness.Keys.Job(id), "status").Bounded() == JobStatus.Failed,
                TimeSpan.FromSeconds(30), $"job {id} is set aside");
            Assert.Contains("\"type\":\"corrupt\"", (string?)await harness.Db.HashGetAsync(harness.Keys.Job(id), "error").Bounded(), StringComparison.Ordinal);
            Assert.True(await harness.Db.SortedSetScoreAsync(harness.Keys.DeadLetters, id).Bounded() is not null, $"{id} is not dead-lettered");
        }

        Assert.False(worker.HasExited);
        Assert.Equal(0, await harness.PendingCountAsync());
    }
}

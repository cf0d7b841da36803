using System.Diagnostics;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// A worker drops expired dead letters (their jobs gone with <c>Api:JobRetention</c>) from the
/// global set while each call drops a full batch, not one batch per stats read: 60,000 expiring at
/// once left the set, and the <c>orchestrator.dead_letters</c> gauge, over 5 minutes with two
/// workers (an outside audit). A real worker process on a real Redis.
/// </summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class DeadLetterPruningTests
{
    [Fact]
    public async Task ThousandsOfExpiredDeadLetters_AWorkerDropsThemInOneStatsRead()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var expired = Enumerable.Range(0, 3_000).Select(i => new SortedSetEntry($"expiredDeadLetter{i:D5}", 1_000_000 + i)).ToArray();
        await harness.Db.SortedSetAddAsync(harness.Keys.DeadLetters, expired).Bounded();

        _ = await harness.StartWorkerAsync(new Dictionary<string, string> { ["Simulator:FailureRate"] = "0" }, "worker");
        var started = Stopwatch.StartNew();
        await AsyncWait.WaitUntilAsync(async () => await harness.Db.SortedSetLengthAsync(harness.Keys.DeadLetters).Bounded() == 0,
            TimeSpan.FromSeconds(60), "the expired dead letters are dropped", TimeSpan.FromMilliseconds(100));
        TestContext.Current.TestOutputHelper?.WriteLine($"3,000 expired dead letters dropped {started.ElapsedMilliseconds} ms after the worker started");
        // Stats are read every 5 s: one read drops them all (500 a read took six reads, ~30 s).
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(12), $"dropped after {started.Elapsed}");
    }
}

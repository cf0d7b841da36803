using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// Each worker process joins the group under a new name; the names of stopped workers are removed
/// once they hold nothing and have not been seen for ten leases. One holding entries never is.
/// </summary>
[Collection(RedisFaultProcessCollection.Name)]
public sealed class ConsumerPruningTests
{
    [Fact]
    public async Task PruneConsumers_RemovesOnlyIdleEmptyConsumersNeverOneHoldingEntriesNorItself()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        await harness.Db.ExecuteAsync("XGROUP", "CREATECONSUMER", harness.Keys.Stream, RedisKeys.ConsumerGroup, "empty").Bounded();
        await harness.Db.ExecuteAsync("XGROUP", "CREATECONSUMER", harness.Keys.Stream, RedisKeys.ConsumerGroup, "self").Bounded();
        await harness.Db.StreamAddAsync(harness.Keys.Stream, "jobId", "held").Bounded();
        Assert.Single(await harness.Db.StreamReadGroupAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, "holding", ">", 1).Bounded());
        var start = DateTime.UtcNow;
        await AsyncWait.WaitUntilAsync(() => DateTime.UtcNow - start > TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(5), "every consumer is idle a little");

        Assert.Equal(1, await harness.Store.PruneConsumersAsync("self", TimeSpan.FromMilliseconds(5)).Bounded());

        Assert.Equal(["holding", "self"], await ConsumersAsync(harness));
    }

    [Fact]
    public async Task RunningWorker_RemovesAStoppedWorkersConsumer()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        await harness.Db.ExecuteAsync("XGROUP", "CREATECONSUMER", harness.Keys.Stream, RedisKeys.ConsumerGroup, "stopped-worker").Bounded();

        var worker = await harness.StartWorkerAsync(new Dictionary<string, string> { ["Worker:LeaseTimeout"] = "00:00:01" }, "worker");

        await AsyncWait.WaitUntilAsync(async () => !(await ConsumersAsync(harness)).Contains("stopped-worker"),
            TimeSpan.FromSeconds(40), "the stopped worker's consumer is removed", TimeSpan.FromMilliseconds(200));
        // What is left is the running worker's own consumer, if Redis has made one for its reads yet.
        Assert.All(await ConsumersAsync(harness), c => Assert.Equal(worker.Consumer, c));
        Assert.False(worker.HasExited);
    }

    [Fact]
    public async Task PruneConsumers_NoStreamYet_RemovesNothing()
    {
        await using var harness = await WorkerHarness.StartAsync();

        Assert.Equal(0, await harness.Store.PruneConsumersAsync("self", TimeSpan.FromMilliseconds(5)).Bounded());
    }

    [Fact]
    public async Task WorkerOnEmptyRedis_RunsAJobWithoutLoopFaultsOrGroupRetries()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var worker = await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
        }, "worker");

        // The first fetch step prunes and reclaims before it dispatches: by the time a job is done,
        // both have met the Redis the worker found.
        var job = await harness.SubmitAsync(maxAttempts: 1);
        Assert.Equal(JobStatus.Completed, Assert.Single(await harness.WaitUntilAllFinalAsync([job], TimeSpan.FromSeconds(30))).Status);

        var output = worker.Output;
        Assert.DoesNotContain("fail:", output, StringComparison.Ordinal);
        Assert.DoesNotContain("NOGROUP", output, StringComparison.Ordinal);
        Assert.DoesNotContain("no such key", output, StringComparison.Ordinal);
    }

    private static async Task<string[]> ConsumersAsync(WorkerHarness harness) =>
        [.. (await harness.Db.StreamConsumerInfoAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup).Bounded()).Select(c => c.Name).Order(StringComparer.Ordinal)];
}

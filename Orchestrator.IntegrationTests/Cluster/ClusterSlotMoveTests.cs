using System.Net;
using System.Text.Json;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Cluster;

/// <summary>
/// A partition's slot moved to another master while the job system holds it (an operator's
/// <c>redis-cli --cluster reshard</c>): Redis moves its keys one by one, in no promised order.
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterSlotMoveTests
{
    private const int Partitions = 2;

    // The jobs index's pruning, sent on to the node taking the slot once the index had moved, found
    // the jobs not moved yet absent and dropped their ids as expired: a partition's index emptied,
    // its jobs gone from every listing for good (an outside audit: 1,830 of 1,830 ids).
    [Fact]
    public async Task SlotHalfMoved_IndexFirst_PruningDropsNoIdOfAJobStillKept()
    {
        const int Jobs = 20;
        await using var harness = await ClusterHarness.StartAsync(new RedisClusterOptions { Masters = 3 }, Partitions);
        var api = await harness.StartApiAsync(new Dictionary<string, string>(), "api-1");
        var worker = await harness.StartWorkerAsync(new Dictionary<string, string> { ["Simulator:FailureRate"] = "0", ["Simulator:Latency"] = "00:00:00.005" }, "worker-1");
        using var client = api.CreateClient(key: null);
        var keys = Enumerable.Range(0, 1000).Select(i => $"move-{i}")
            .Where(k => JobPartitions.OfIdempotencyKey(TenantNames.Default, k, Partitions) == 0).Take(Jobs).ToList();
        var ids = new List<string>();
        foreach (var key in keys)
        {
            var (status, _, body) = await PartitionedClusterTests.TimedPostAsync(client, key);
            Assert.Equal(HttpStatusCode.Accepted, status);
            ids.Add(JsonDocument.Parse(body).RootElement.GetProperty("jobId").GetString()!);
        }

        await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(60));
        // The move is the only change from here: no worker prunes beside the test's own calls.
        await worker.StopGracefullyAsync(TimeSpan.FromSeconds(30));

        var partition = harness.Store.Keys.For(0);
        var db = harness.Connection.GetDatabase();
        Assert.True(await db.KeyExistsAsync(partition.IndexCursors), "the index has its pruning cursors");
        var indexed = await db.SortedSetLengthAsync(partition.Jobs);
        Assert.Equal(Jobs, indexed);
        Assert.Equal(0, (await harness.Store.PruneJobsIndexAsync(page: 1000, tenants: 10)).Dropped);

        var source = await harness.Cluster.MasterOfAsync(partition.Stream);
        var target = (await harness.Cluster.MastersAsync()).First(m => m.Port != source.Port);
        var move = await harness.Cluster.BeginSlotMoveAsync(partition.Stream, target);
        await move.MoveKeysAsync([partition.IndexCursors, partition.Jobs, partition.TenantJobs(TenantNames.Default)]);

        // Half moved: the index and its cursors on the target, every job still on the source.
        var halfway = await Record.ExceptionAsync(() => harness.Store.PruneJobsIndexAsync(page: 1000, tenants: 10));
        TestContext.Current.TestOutputHelper?.WriteLine($"pruning half-way through the move: {halfway?.Message ?? "ran"}");
        Assert.Equal(indexed, await db.SortedSetLengthAsync(partition.Jobs));

        await move.EndAsync();
        Assert.Equal(target.Port, (await harness.Cluster.MasterOfAsync(partition.Stream)).Port);
        Assert.Equal(0, (await harness.Store.PruneJobsIndexAsync(page: 1000, tenants: 10)).Dropped);
        Assert.Equal(indexed, await db.SortedSetLengthAsync(partition.Jobs));
        Assert.All(await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(10)), job => Assert.Equal(JobStatus.Completed, job.Status));
    }
}

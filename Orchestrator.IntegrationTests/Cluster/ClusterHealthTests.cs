using System.Diagnostics;
using System.Net;

namespace Orchestrator.IntegrationTests.Cluster;

/// <summary>
/// <c>/health</c> on a real Redis Cluster says whether the nodes that serve the job system's
/// partitions answer now. It pinged every node it was given: after a master's kill and its
/// replica's promotion every API and worker stayed <c>Unhealthy</c> for as long as the dead node
/// stayed down (over 2 minutes in an audit), while every job was served, and a frozen node held
/// each probe for 2.7–5.2 s.
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterHealthTests
{
    [Fact]
    public async Task MasterKilled_HealthyOnceItsReplicaServes_WhileTheDeadNodeStaysDown()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var harness = await ClusterHarness.StartAsync(
            new RedisClusterOptions { Masters = 3, ReplicasPerMaster = 1, NodeTimeout = TimeSpan.FromSeconds(2) });
        var api = await harness.StartApiAsync(new Dictionary<string, string>(), "api-1");
        using var client = api.CreateClient(key: null);
        Assert.Equal(HttpStatusCode.OK, await HealthAsync(client));

        // A node that serves no partition: nothing of the job system is missing.
        var masters = await harness.Cluster.MastersAsync();
        var orchMaster = await harness.Cluster.MasterOfAsync(harness.Store.Keys.Stream);
        var other = masters.First(m => m.Port != orchMaster.Port);
        await harness.Cluster.KillAsync(other);
        await AssertHealthyWithinAsync(client, "a master that serves no partition is down");
        // Back (its replica took over meanwhile): a failover needs a majority of the masters alive.
        await other.StartAsync(cancellationToken);
        await harness.Cluster.WaitUntilHealthyAsync(TimeSpan.FromSeconds(30), cancellationToken);

        // The partition's own master: unhealthy, and answered quickly, until its replica serves it.
        await harness.Cluster.KillAsync(orchMaster);
        var stopwatch = Stopwatch.StartNew();
        var status = await HealthAsync(client);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2.5), $"/health answered after {stopwatch.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        await harness.Cluster.WaitForFailoverAsync(harness.Store.Keys.Stream, orchMaster, TimeSpan.FromSeconds(30), cancellationToken);
        await AssertHealthyWithinAsync(client, "the partition's replica took over; the dead master stays down");
        Assert.False(orchMaster.IsRunning);
    }

    private static async Task AssertHealthyWithinAsync(HttpClient client, string what) =>
        await AsyncWait.WaitUntilAsync(async () => await HealthAsync(client) == HttpStatusCode.OK, TimeSpan.FromSeconds(20),
            $"/health 200: {what}", TimeSpan.FromMilliseconds(250));

    private static async Task<HttpStatusCode> HealthAsync(HttpClient client)
    {
        using var response = await client.GetAsync("/health", TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        return response.StatusCode;
    }
}

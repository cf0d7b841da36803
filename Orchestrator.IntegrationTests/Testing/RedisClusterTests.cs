using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Testing;

/// <summary>The local Redis Cluster the cluster tests rely on: it forms, routes by slot, and fails over.</summary>
[Collection(RedisClusterCollection.Name)]
public sealed class RedisClusterTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Start_ThreeMasters_EverySlotCoveredAndKeysSpreadOverMasters()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var cluster = await RedisCluster.StartAsync(new RedisClusterOptions { Masters = 3 }, cancellationToken);
        await using var redis = await cluster.ConnectAsync().WaitAsync(Timeout, cancellationToken);

        var masters = await cluster.MastersAsync();
        var owners = new HashSet<int>();
        for (var i = 0; i < 30; i++)
        {
            var key = $"key-{i}";
            await redis.GetDatabase().StringSetAsync(key, i).WaitAsync(Timeout, cancellationToken);
            owners.Add((await cluster.MasterOfAsync(key)).Port);
        }

        Assert.Equal(3, masters.Count);
        Assert.Equal(3, owners.Count);
        Assert.Subset(masters.Select(m => m.Port).ToHashSet(), owners);
    }

    [Fact]
    public async Task KillMasterOfSlot_WithReplica_ReplicaTakesOverWithTheReplicatedKeys()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var cluster = await RedisCluster.StartAsync(
            new RedisClusterOptions { Masters = 3, ReplicasPerMaster = 1, NodeTimeout = TimeSpan.FromSeconds(2) }, cancellationToken);
        await using var redis = await cluster.ConnectAsync("abortConnect=false").WaitAsync(Timeout, cancellationToken);
        RedisKey key = "{orch}:probe";
        await redis.GetDatabase().StringSetAsync(key, "kept").WaitAsync(Timeout, cancellationToken);
        var master = await cluster.MasterOfAsync(key);
        // WAIT on the master's own connection: the write is on its replica before the kill.
        var acknowledged = (long)await redis.GetServer(key, flags: CommandFlags.DemandMaster).ExecuteAsync("WAIT", 1, 5000).WaitAsync(Timeout, cancellationToken);

        await cluster.KillAsync(master);
        var promoted = await cluster.WaitForFailoverAsync(key, master, cancellationToken: cancellationToken);

        Assert.Equal(1, acknowledged);
        Assert.NotEqual(master.Port, promoted.Port);
        Assert.Contains(promoted, cluster.Nodes.Skip(3)); // one of the nodes formed as replicas
        await using var fresh = await cluster.ConnectAsync("abortConnect=false").WaitAsync(Timeout, cancellationToken);
        Assert.Equal("kept", (string?)await fresh.GetDatabase().StringGetAsync(key).WaitAsync(Timeout, cancellationToken));
    }
}

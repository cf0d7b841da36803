using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Cluster;

/// <summary>
/// Each master of a Redis Cluster has its own <c>maxmemory-policy</c>: the guard reads every one, so
/// one evicting master among noeviction ones keeps the services from starting (a keyless
/// <c>CONFIG GET</c> reaches one node only).
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterEvictionPolicyTests
{
    [Fact]
    public async Task Check_EveryMasterNoEviction_Accepts_OneOfThreeEvicting_RefusedNamingThatMaster()
    {
        await using var cluster = await RedisCluster.StartAsync(new RedisClusterOptions { Masters = 3 }, TestContext.Current.CancellationToken);
        var masters = await cluster.MastersAsync();
        Assert.Equal(3, masters.Count);
        await using (var connection = await cluster.ConnectAsync())
        {
            var logger = new FakeLogger<EvictionPolicyGuard>();
            Assert.True(await new EvictionPolicyGuard(new JobStore(connection), connection, new IdleLifetime(), logger).CheckAtStartAsync());
            Assert.Empty(logger.Collector.GetSnapshot());
        }

        foreach (var evicting in masters)
        {
            await using var connection = await cluster.ConnectAsync();
            foreach (var master in masters)
            {
                var policy = master == evicting ? "allkeys-lru" : JobStore.NoEviction;
                await connection.GetServer("127.0.0.1", master.Port).ExecuteAsync("CONFIG", "SET", "maxmemory-policy", policy);
            }

            var logger = new FakeLogger<EvictionPolicyGuard>();
            var guard = new EvictionPolicyGuard(new JobStore(connection), connection, new IdleLifetime(), logger);

            Assert.False(await guard.CheckAtStartAsync());
            Assert.Equal(LogLevel.Critical, logger.LatestRecord.Level);
            Assert.Contains($"'allkeys-lru' on 127.0.0.1:{evicting.Port}", logger.LatestRecord.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task EvictingReplicaPromotedByFailover_TheRunningServiceStops()
    {
        // A failover is how a node usually becomes primary, and no connection is lost or restored by
        // it: services ran on an evicting master, writing jobs to it, until their next reconnect.
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var cluster = await RedisCluster.StartAsync(
            new RedisClusterOptions { Masters = 3, ReplicasPerMaster = 1, NodeTimeout = TimeSpan.FromSeconds(2) }, cancellationToken);
        // As the services connect: the client reads the nodes' roles again every 5 s (RedisClientExtensions).
        await using var connection = await cluster.ConnectAsync("configCheckSeconds=5");
        var store = new JobStore(connection);
        var lifetime = new StoppableLifetime();
        var logger = new FakeLogger<EvictionPolicyGuard>();
        var guard = new EvictionPolicyGuard(store, connection, lifetime, logger);
        Assert.True(await guard.CheckAtStartAsync());

        var master = await cluster.MasterOfAsync(store.Keys.Stream);
        var replica = Assert.Single(await cluster.ReplicasOfAsync(master));
        var replicaServer = connection.GetServer("127.0.0.1", replica.Port);
        await replicaServer.ExecuteAsync("CONFIG", "SET", "maxmemory-policy", "allkeys-lru").WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
        await replicaServer.ExecuteAsync("CLUSTER", "FAILOVER").WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);

        await AsyncWait.WaitUntilAsync(() => lifetime.Stopped, EvictionPolicyGuard.RecheckInterval * 3, "the guard stops the service");
        Assert.Equal(LogLevel.Critical, logger.LatestRecord.Level);
        Assert.Contains($"'allkeys-lru' on 127.0.0.1:{replica.Port}", logger.LatestRecord.Message, StringComparison.Ordinal);
    }

    /// <summary>A host lifetime that records a stop (the guard's way to end the service).</summary>
    private sealed class StoppableLifetime : Microsoft.Extensions.Hosting.IHostApplicationLifetime
    {
        private int _stopped;

        public bool Stopped => Volatile.Read(ref _stopped) == 1;

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => Volatile.Write(ref _stopped, 1);
    }
}

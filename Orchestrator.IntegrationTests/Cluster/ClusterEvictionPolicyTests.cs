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
}

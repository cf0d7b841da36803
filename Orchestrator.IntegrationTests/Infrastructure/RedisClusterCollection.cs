namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// Tests that start a Redis Cluster of their own (six redis-server processes, and API and worker
/// processes on top): they run one at a time, beside the other collections. Their failovers wait on
/// the cluster's 5 s node timeout, not the CPU; run alone after the parallel tests they added ~2 min
/// to the suite.
/// </summary>
[CollectionDefinition(Name)]
public sealed class RedisClusterCollection
{
    /// <summary>The collection's name, for <c>[Collection(RedisClusterCollection.Name)]</c>.</summary>
    public const string Name = "redis-cluster";
}

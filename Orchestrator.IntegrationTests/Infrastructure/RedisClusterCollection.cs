namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// Tests that start a Redis Cluster of their own (six redis-server processes, and API and worker
/// processes on top): they run one at a time, so their failovers keep to their timeouts on a busy machine.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RedisClusterCollection
{
    /// <summary>The collection's name, for <c>[Collection(RedisClusterCollection.Name)]</c>.</summary>
    public const string Name = "redis-cluster";
}

using Orchestrator.IntegrationTests.Webhooks;
using Xunit.Sdk;
using Xunit.v3;

[assembly: TestCollectionOrderer(typeof(Orchestrator.IntegrationTests.Infrastructure.LongestFirstCollectionOrderer))]

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// Starts the longest collections first; the rest keep xUnit's default (random) order. Three
/// collections run at a time (<c>maxParallelThreads</c> in xunit.runner.json: the process tests wait
/// on processes and timers more than they compute), and the suite's length is that of its longest
/// path: a long collection started last, after the webhooks' 2 minutes, ended the suite that much later.
/// </summary>
public sealed class LongestFirstCollectionOrderer : ITestCollectionOrderer
{
    private static readonly string[] Longest =
    [
        WebhookCollection.Name, WorkerProcessCollection.Name, ApiProcessCollection.Name,
        RedisClusterCollection.Name, ProviderProcessCollection.Name, RedisFaultProcessCollection.Name,
    ];

    /// <inheritdoc />
    public IReadOnlyCollection<TTestCollection> OrderTestCollections<TTestCollection>(IReadOnlyCollection<TTestCollection> testCollections)
        where TTestCollection : notnull, ITestCollection
    {
        var rest = DefaultTestCollectionOrderer.Instance.OrderTestCollections(testCollections);
        return [.. rest.OrderBy(c => Array.IndexOf(Longest, c.TestCollectionDisplayName) is var i and >= 0 ? i : Longest.Length)];
    }
}

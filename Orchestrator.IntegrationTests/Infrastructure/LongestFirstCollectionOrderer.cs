using Orchestrator.IntegrationTests.Webhooks;
using Xunit.Sdk;
using Xunit.v3;

[assembly: TestCollectionOrderer(typeof(Orchestrator.IntegrationTests.Infrastructure.LongestFirstCollectionOrderer))]

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// Starts the longest collections first; the rest keep xUnit's default (random) order. Two collections
/// run at a time on this 2-core machine, and the worker processes' collection (~4 minutes, ~6 with
/// the provider tests it held before) is the suite's longest path: started after the webhooks' 2
/// minutes, it ended the suite that much later, so the suite's length depended on the draw.
/// </summary>
public sealed class LongestFirstCollectionOrderer : ITestCollectionOrderer
{
    private static readonly string[] Longest = [WorkerProcessCollection.Name, WebhookCollection.Name, ProviderProcessCollection.Name];

    /// <inheritdoc />
    public IReadOnlyCollection<TTestCollection> OrderTestCollections<TTestCollection>(IReadOnlyCollection<TTestCollection> testCollections)
        where TTestCollection : notnull, ITestCollection
    {
        var rest = DefaultTestCollectionOrderer.Instance.OrderTestCollections(testCollections);
        return [.. rest.OrderBy(c => Array.IndexOf(Longest, c.TestCollectionDisplayName) is var i and >= 0 ? i : Longest.Length)];
    }
}

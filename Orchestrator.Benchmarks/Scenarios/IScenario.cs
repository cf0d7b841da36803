using Orchestrator.Benchmarks.Infrastructure;

namespace Orchestrator.Benchmarks.Scenarios;

/// <summary>One benchmark scenario. Each starts from an empty Redis and leaves no process running.</summary>
internal interface IScenario
{
    string Id { get; }

    string Description { get; }

    Task<IReadOnlyList<ScenarioResult>> RunAsync(BenchmarkContext context);
}

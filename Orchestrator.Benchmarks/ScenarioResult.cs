namespace Orchestrator.Benchmarks;

/// <summary>Which BASE figure a scenario is compared with.</summary>
internal enum Baseline
{
    None,
    Enqueue,
    Drain,
}

/// <summary>One scenario variant's figures from one run.</summary>
/// <param name="Checks">Correctness counts (lost, completed twice, …); the worst run is reported, not the median.</param>
internal sealed record ScenarioResult(
    string Scenario,
    string Variant,
    double? JobsPerSecond,
    double? P50Ms,
    double? P99Ms,
    Baseline ComparedWith,
    IReadOnlyDictionary<string, double>? Extras = null,
    IReadOnlyDictionary<string, double>? Checks = null)
{
    /// <summary>Set once the run's BASE figures are known.</summary>
    public double? Ratio { get; set; }

    public string Key => $"{Scenario}/{Variant}";
}

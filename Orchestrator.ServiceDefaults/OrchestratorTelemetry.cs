using System.Diagnostics;

namespace Orchestrator.ServiceDefaults;

/// <summary>
/// The names under which the Orchestrator's own spans and metrics are published. Both are
/// registered in <c>AddServiceDefaults()</c>, so an <c>ActivitySource</c> or <c>Meter</c> created
/// with these names is exported without further set-up. Metric instruments are named
/// <c>orchestrator.*</c> (for example <c>orchestrator.jobs.completed</c>).
/// </summary>
public static class OrchestratorTelemetry
{
    /// <summary>The <see cref="System.Diagnostics.ActivitySource"/> name for job spans.</summary>
    public const string ActivitySourceName = "Orchestrator";

    /// <summary>The <see cref="System.Diagnostics.Metrics.Meter"/> name for <c>orchestrator.*</c> instruments.</summary>
    public const string MeterName = "Orchestrator";

    /// <summary>The source of the Orchestrator's own spans (submission enrichment, attempts).</summary>
    public static readonly ActivitySource ActivitySource = new(ActivitySourceName);
}

using System.Diagnostics;
using OpenTelemetry.Trace;

namespace Orchestrator.ServiceDefaults;

/// <summary>
/// Records every span except Redis command spans that belong to no recorded span. Those are the
/// worker's housekeeping (the reclaim loop's <c>XAUTOCLAIM</c> every <c>Worker:ReclaimInterval</c>,
/// lease renewals, claims) and the <c>PING</c>s of health probes whose request span is filtered out:
/// each would be a one-span trace on the dashboard, every second, burying the job traces. Redis
/// calls made inside a request or an attempt span keep their parent and are recorded as before.
/// </summary>
/// <remarks>
/// A sampler, because the StackExchange.Redis instrumentation creates its spans later, on its own
/// drain thread, from profiled commands: a <c>SuppressInstrumentationScope</c> around the caller is
/// no longer in effect there, and its filter would make it hold every command until the parent span
/// ends instead of draining them every 100 ms.
/// Other spans follow their parent, and root spans are recorded (OpenTelemetry's default). Set in
/// code, this sampler replaces the <c>OTEL_TRACES_SAMPLER=always_on</c> the AppHost passes, under
/// which the children of filtered-out health probes were recorded as orphans.
/// </remarks>
public sealed class OrphanRedisSpanSampler : Sampler
{
    private static readonly SamplingResult Drop = new(SamplingDecision.Drop);
    private static readonly Sampler Default = new ParentBasedSampler(new AlwaysOnSampler());

    /// <inheritdoc />
    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
    {
        var parent = samplingParameters.ParentContext;
        var orphan = parent.TraceId == default || !parent.TraceFlags.HasFlag(ActivityTraceFlags.Recorded);
        return orphan && IsRedisCommand(samplingParameters.Tags) ? Drop : Default.ShouldSample(samplingParameters);
    }

    // The instrumentation names the system in its creation tags: db.system (older semantic
    // conventions) or db.system.name (newer ones), depending on its settings.
    private static bool IsRedisCommand(IEnumerable<KeyValuePair<string, object?>>? tags)
    {
        if (tags is null)
        {
            return false;
        }

        foreach (var (key, value) in tags)
        {
            if (key is "db.system" or "db.system.name" && value is "redis")
            {
                return true;
            }
        }

        return false;
    }
}

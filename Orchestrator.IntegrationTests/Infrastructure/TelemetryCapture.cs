using System.Collections.Concurrent;
using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Logs;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// Keeps every recorded span a tracer provider sees, as an exporter would receive it. Safe to read
/// while spans are still arriving (unlike a plain list given to the in-memory exporter).
/// </summary>
/// <remarks>
/// Activity listeners are process-wide: a provider also sees the spans of other hosts in the test
/// process (other test classes run in parallel), so tests select spans by job id or trace id.
/// </remarks>
internal sealed class SpanCapture : BaseProcessor<Activity>
{
    private readonly ConcurrentQueue<Activity> _spans = new();

    public IReadOnlyList<Activity> Spans => [.. _spans];

    public override void OnEnd(Activity data)
    {
        // The export processors skip spans the sampler did not record; so does this.
        if (data.Recorded)
        {
            _spans.Enqueue(data);
        }
    }
}

/// <summary>A log record as OpenTelemetry exports it: its structured attributes, its scopes' values and the span it was written in.</summary>
internal sealed record CapturedLog(
    string? Category,
    string? Message,
    IReadOnlyDictionary<string, object?> Attributes,
    ActivityTraceId TraceId,
    ActivitySpanId SpanId)
{
    /// <summary>The key/value pairs of the scopes the record was written in (inner scopes win).</summary>
    public IReadOnlyDictionary<string, object?> Scopes { get; init; } = new Dictionary<string, object?>();
}

/// <summary>Keeps a copy of every log record a logger provider exports (log records are pooled, so they are copied).</summary>
internal sealed class LogCapture : BaseProcessor<LogRecord>
{
    private readonly ConcurrentQueue<CapturedLog> _records = new();

    public IReadOnlyList<CapturedLog> Records => [.. _records];

    public override void OnEnd(LogRecord data)
    {
        var attributes = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in data.Attributes ?? [])
        {
            attributes[key] = value;
        }

        var scopes = new Dictionary<string, object?>(StringComparer.Ordinal);
        data.ForEachScope(static (scope, values) =>
        {
            foreach (var (key, value) in scope)
            {
                values[key] = value;
            }
        }, scopes);
        _records.Enqueue(new CapturedLog(data.CategoryName, data.FormattedMessage ?? data.Body, attributes, data.TraceId, data.SpanId) { Scopes = scopes });
    }
}

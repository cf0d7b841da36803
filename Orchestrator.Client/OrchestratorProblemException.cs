namespace Orchestrator.Client;

/// <summary>The API answered with an RFC 9457 problem (or an error without one).</summary>
public sealed class OrchestratorProblemException : Exception
{
    /// <summary>Creates the exception for a problem answer.</summary>
    public OrchestratorProblemException(int status, string? type, string? title, string? detail,
        IReadOnlyDictionary<string, string[]>? errors = null, string? traceId = null)
        : base($"{status} {title}: {detail ?? (errors is null ? "" : string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}")))}")
    {
        Status = status;
        Type = type;
        Title = title;
        Detail = detail;
        Errors = errors ?? new Dictionary<string, string[]>();
        TraceId = traceId;
    }

    /// <summary>
    /// The idempotency key a refused submission was sent with (the caller's, or the one the client
    /// made): after a 503 the job may exist, and a submission sent again with this key answers for
    /// it instead of making a second one. Null for other requests.
    /// </summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>How long the API asked the caller to wait before sending again (<c>Retry-After</c> of a 429 or 503), if it said.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>The problem's other members: a <c>quota-exceeded</c> 429's <c>quota</c> and <c>limit</c>, …; else empty.</summary>
    public IReadOnlyDictionary<string, System.Text.Json.JsonElement> Extensions { get; init; } = new Dictionary<string, System.Text.Json.JsonElement>();

    /// <summary>The HTTP status (400, 404, 422, 503 …).</summary>
    public int Status { get; }

    /// <summary>The problem type URI.</summary>
    public string? Type { get; }

    /// <summary>A short summary (<c>"The job request is invalid"</c>).</summary>
    public string? Title { get; }

    /// <summary>What went wrong and what to do about it.</summary>
    public string? Detail { get; }

    /// <summary>For a validation problem, the messages per field (<c>prompt</c>, <c>maxTokens</c> …); else empty.</summary>
    public IReadOnlyDictionary<string, string[]> Errors { get; }

    /// <summary>The request's trace id, to find it in the API's telemetry.</summary>
    public string? TraceId { get; }
}

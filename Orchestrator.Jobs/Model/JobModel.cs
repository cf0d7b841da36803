namespace Orchestrator.Jobs;

/// <summary>What a client asked for: the validated body of <c>POST /jobs</c>.</summary>
public sealed record JobRequest(
    string Prompt,
    string? Model = null,
    int? MaxTokens = null,
    double? Temperature = null,
    IReadOnlyDictionary<string, string>? Metadata = null);

/// <summary>The LLM's answer to a completed job.</summary>
public sealed record JobResult(string Text, string? Model, TokenUsage Usage);

/// <summary>Token counts reported by the LLM provider.</summary>
public sealed record TokenUsage(long PromptTokens, long CompletionTokens);

/// <summary>Why an attempt or a job failed: a stable machine-readable type and a human message.</summary>
public sealed record JobError(string Type, string Message);

/// <summary>One attempt in a job's history. Times are UTC.</summary>
public sealed record AttemptRecord(
    int Attempt,
    DateTimeOffset StartedAt,
    DateTimeOffset? EndedAt,
    string? Outcome,
    JobError? Error,
    long? RetryDelayMs);

/// <summary>A job's full state as stored in Redis.</summary>
public sealed record Job
{
    public required string Id { get; init; }

    /// <summary>The tenant that submitted the job (<see cref="TenantNames.Default"/> for jobs stored before tenants existed).</summary>
    public string Tenant { get; init; } = TenantNames.Default;

    public required string Status { get; init; }
    public required JobRequest Request { get; init; }
    public int Attempts { get; init; }
    public int? MaxAttempts { get; init; }
    public int Deliveries { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? FirstAttemptAt { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }
    public DateTimeOffset? NextAttemptAt { get; init; }
    public JobResult? Result { get; init; }
    public JobError? Error { get; init; }
    public IReadOnlyList<AttemptRecord> History { get; init; } = [];

    /// <summary>
    /// Taken over from a worker that died mid-attempt: it must run alone until an attempt of it ends
    /// (see claim.lua, poison isolation).
    /// </summary>
    public bool Suspect { get; init; }

    /// <summary>Attempts lost with a worker while other jobs ran beside them: recorded, not charged to the budget.</summary>
    public int UnchargedAttempts { get; init; }

    /// <summary>W3C <c>traceparent</c> of the submission, so every attempt span can link to it.</summary>
    public string? TraceParent { get; init; }

    /// <summary>W3C <c>tracestate</c> of the submission.</summary>
    public string? TraceState { get; init; }
}

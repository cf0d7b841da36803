namespace Orchestrator.Jobs;

/// <summary>What a client asked for: the validated body of <c>POST /jobs</c>.</summary>
/// <param name="FallbackModels">Served models to use, in order, when the model's circuit is open or its context window is too small.</param>
/// <param name="CallbackUrl">Where a signed webhook is sent at each final transition (checked by the API: https, public addresses).</param>
/// <param name="Priority">Orders the tenant's own jobs: <see cref="JobPriority.High"/>, <see cref="JobPriority.Normal"/> (null) or <see cref="JobPriority.Low"/>.</param>
public sealed record JobRequest(
    string Prompt,
    string? Model = null,
    int? MaxTokens = null,
    double? Temperature = null,
    IReadOnlyDictionary<string, string>? Metadata = null,
    IReadOnlyList<string>? FallbackModels = null,
    string? CallbackUrl = null,
    string? Priority = null);

/// <summary>The LLM's answer to a completed job.</summary>
/// <param name="Cost">The call's cost from the model's configured prices (0 when none are configured).</param>
/// <param name="FinishReason">
/// Why the provider said the answer ended, as it said it: <c>stop</c> (a whole answer), <c>length</c>
/// (cut at the job's <c>maxTokens</c> or the model's limit), <c>content_filter</c>, …; null for answers
/// recorded before it was kept.
/// </param>
public sealed record JobResult(string Text, string? Model, TokenUsage Usage, decimal? Cost = null, string? FinishReason = null);

/// <summary>Tokens used and their cost: of one attempt, or a job's total.</summary>
public sealed record LlmUsage(long InputTokens, long OutputTokens, decimal Cost);

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
    long? RetryDelayMs,
    string? Model = null,
    LlmUsage? Usage = null);

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

    /// <summary>Tokens and cost of every attempt so far.</summary>
    public LlmUsage Usage => new(
        History.Sum(a => a.Usage?.InputTokens ?? 0), History.Sum(a => a.Usage?.OutputTokens ?? 0), History.Sum(a => a.Usage?.Cost ?? 0));

    /// <summary>
    /// Taken over from a worker that died mid-attempt: it runs apart from ordinary jobs until an
    /// attempt of it ends, in a group with its worker's other suspects or, when
    /// <see cref="SuspectAlone"/>, alone (see claim.lua, poison isolation).
    /// </summary>
    public bool Suspect { get; init; }

    /// <summary>A suspect whose lost attempt ran in a group of suspects, or alone: it runs alone.</summary>
    public bool SuspectAlone { get; init; }

    /// <summary>
    /// Attempts recorded but not charged to the budget: lost with a worker while other jobs ran beside
    /// them (<c>sharedLosses</c>), or cut off at a graceful shutdown (<c>releasedAttempts</c>, outcome
    /// <see cref="AttemptOutcome.Released"/>).
    /// </summary>
    public int UnchargedAttempts { get; init; }

    /// <summary>
    /// Handed back at a graceful shutdown (<c>release.lua</c>) and not claimed since: set only in the
    /// job a claim answers with, so the claiming worker does not take it for a lapsed lease.
    /// </summary>
    public bool HandedBack { get; init; }

    /// <summary>
    /// The attempt the claim that answered with this job closed as <c>worker-lost</c> (its worker died
    /// or lost its lease mid-attempt), with its start and end: set only in that claim's reply, so the
    /// claiming worker records the attempt's span and counts it, once. Null otherwise.
    /// </summary>
    public AttemptRecord? LostAttempt { get; init; }

    /// <summary>
    /// The job's total wait for deployments recorded when it was deferred (<c>rateLimitWaitMs</c>): a
    /// worker that takes it up goes on from here, so <c>Llm:MaxRateLimitWait</c> bounds the job, not one worker's share.
    /// </summary>
    public TimeSpan RateLimitWait { get; init; }

    /// <summary>
    /// The slot its last deferral booked with a deployment (<c>booking</c>: <c>&lt;attempt&gt;:&lt;slot&gt;:&lt;provider&gt;</c>,
    /// written by <c>defer.lua</c>); good only for the attempt recorded in it.
    /// </summary>
    public string? Booking { get; init; }

    /// <summary>W3C <c>traceparent</c> of the submission, so every attempt span can link to it.</summary>
    public string? TraceParent { get; init; }

    /// <summary>W3C <c>tracestate</c> of the submission.</summary>
    public string? TraceState { get; init; }

    /// <summary>Webhook deliveries made for the job's final transitions (the counter in the job hash).</summary>
    public int WebhookCount { get; init; }

    /// <summary>The job's latest webhook deliveries, oldest first (at most <see cref="JobStore.WebhooksShown"/>).</summary>
    public IReadOnlyList<WebhookDelivery> Webhooks { get; init; } = [];
}

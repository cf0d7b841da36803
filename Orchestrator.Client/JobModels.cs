namespace Orchestrator.Client;

/// <summary>What to submit: only <see cref="Prompt"/> is required (see <c>docs/openapi.json</c> for the limits).</summary>
/// <param name="Prompt">The prompt; not blank.</param>
/// <param name="Model">Optional model name.</param>
/// <param name="MaxTokens">Optional, 1 to 1,000,000.</param>
/// <param name="Temperature">Optional, 0 to 2.</param>
/// <param name="Metadata">Optional string map (at most 32 entries).</param>
/// <param name="FallbackModels">
/// Optional served models to use, in order, when the model's deployment is unavailable (circuit open)
/// or the prompt exceeds its context window (<c>GET /models</c> lists them).
/// </param>
/// <param name="CallbackUrl">Optional https URL (public addresses only) that gets a signed webhook at each final transition (docs/webhooks.md).</param>
/// <param name="Priority">Optional <see cref="JobPriorities.High"/>, <see cref="JobPriorities.Normal"/> (default) or <see cref="JobPriorities.Low"/>: orders the caller's own jobs.</param>
public sealed record JobSubmission(
    string Prompt,
    string? Model = null,
    int? MaxTokens = null,
    double? Temperature = null,
    IReadOnlyDictionary<string, string>? Metadata = null,
    IReadOnlyList<string>? FallbackModels = null,
    string? CallbackUrl = null,
    string? Priority = null);

/// <summary>
/// The priorities of a submission. They order a tenant's own jobs (tenants share workers by weight);
/// a low job still starts within the server's <c>Scheduling:MaxLowPriorityWait</c> (default 10 min).
/// </summary>
public static class JobPriorities
{
    /// <summary>Before the tenant's normal and low jobs.</summary>
    public const string High = "high";

    /// <summary>The default.</summary>
    public const string Normal = "normal";

    /// <summary>After the tenant's high and normal jobs, until it has waited <c>Scheduling:MaxLowPriorityWait</c>.</summary>
    public const string Low = "low";
}

/// <summary>The answer to a submission.</summary>
/// <param name="JobId">The job's id.</param>
/// <param name="Status">Its status when accepted (<c>queued</c>).</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="IdempotencyKey">The key the submission was sent with (the caller's, or one the client made).</param>
/// <param name="Replayed">True when the API answered for an earlier submission with the same key.</param>
public sealed record SubmittedJob(string JobId, string Status, DateTimeOffset CreatedAt, string IdempotencyKey, bool Replayed);

/// <summary>
/// A job as the API shows it, with the fallback models it was submitted with (if any), the
/// tokens and cost of all its attempts (<see cref="Usage"/>), its <see cref="Tenant"/> and the
/// <see cref="TraceId"/> of the trace its submission started; <c>CallbackUrl</c> and <c>Webhooks</c> (its
/// latest deliveries) only for a job submitted with a callback.
/// </summary>
public sealed record Job(
    string JobId,
    string Status,
    string Prompt,
    string? Model,
    int? MaxTokens,
    double? Temperature,
    IReadOnlyDictionary<string, string>? Metadata,
    int Attempts,
    int? MaxAttempts,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? CompletedAt,
    DateTimeOffset? NextAttemptAt,
    JobResult? Result,
    JobError? Error,
    IReadOnlyList<JobAttempt> History,
    IReadOnlyList<string>? FallbackModels = null,
    LlmUsage? Usage = null,
    string? Tenant = null,
    string? TraceId = null,
    string? CallbackUrl = null,
    IReadOnlyList<WebhookDelivery>? Webhooks = null,
    string? Priority = null)
{
    /// <summary>True once the job is <c>completed</c>, <c>failed</c> or <c>canceled</c>: it will not change again (unless a failed job is redriven).</summary>
    public bool IsFinal => Status is JobStatuses.Completed or JobStatuses.Failed or JobStatuses.Canceled;
}

/// <summary>
/// A job as a listing shows it (<see cref="OrchestratorClient.ListJobSummariesAsync"/>): what it is and
/// where it stands, without its prompt, answer, history or deliveries (<see cref="OrchestratorClient.GetAsync"/> has them).
/// </summary>
public sealed record JobSummary(
    string JobId,
    string Status,
    string Tenant,
    string? Model,
    string Priority,
    int Attempts,
    int? MaxAttempts,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    DateTimeOffset? CompletedAt,
    DateTimeOffset? NextAttemptAt)
{
    /// <summary>True once the job is <c>completed</c>, <c>failed</c> or <c>canceled</c>, as <see cref="Job.IsFinal"/>.</summary>
    public bool IsFinal => Status is JobStatuses.Completed or JobStatuses.Failed or JobStatuses.Canceled;
}

/// <summary>The statuses a job can have.</summary>
public static class JobStatuses
{
    /// <summary>Waiting for a worker.</summary>
    public const string Queued = "queued";

    /// <summary>A worker runs it.</summary>
    public const string Processing = "processing";

    /// <summary>An attempt failed; another is due at <see cref="Job.NextAttemptAt"/>.</summary>
    public const string Retrying = "retrying";

    /// <summary>Final: <see cref="Job.Result"/> holds the answer.</summary>
    public const string Completed = "completed";

    /// <summary>Final: <see cref="Job.Error"/> says why; the job is a dead letter.</summary>
    public const string Failed = "failed";

    /// <summary>Final: a client canceled it (<c>POST /jobs/{id}/cancel</c>); not a dead letter.</summary>
    public const string Canceled = "canceled";
}

/// <summary>The LLM's answer to a completed job.</summary>
/// <param name="Text">The answer's text.</param>
/// <param name="Model">The model the provider said answered.</param>
/// <param name="Usage">The tokens the provider reported.</param>
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

/// <summary>Why an attempt or a job failed.</summary>
public sealed record JobError(string Type, string Message);

/// <summary>
/// One attempt of a job: <see cref="Model"/> is the model that answered (the job's, or a fallback;
/// null when none did), <see cref="Usage"/> its tokens and cost (null when the provider answered no usage).
/// </summary>
public sealed record JobAttempt(
    int Attempt, DateTimeOffset StartedAt, DateTimeOffset? EndedAt, string? Outcome, JobError? Error, long? RetryDelayMs,
    string? Model = null, LlmUsage? Usage = null);

/// <summary>One webhook delivery of a job; <see cref="Id"/> is the <c>webhook-id</c> of every try.</summary>
/// <param name="Type"><c>job.completed</c>, <c>job.failed</c>, …</param>
/// <param name="Status"><c>pending</c>, <c>delivered</c> or <c>failed</c> (given up).</param>
/// <param name="Id">The delivery's id, sent as <c>webhook-id</c>.</param>
/// <param name="Attempts">Tries so far.</param>
/// <param name="CreatedAt">When the final transition enqueued it.</param>
/// <param name="LastAttemptAt">When it was last tried.</param>
/// <param name="LastStatusCode">The receiver's HTTP status at the last try; 0 when none came.</param>
/// <param name="LastError">Why the last try was not a delivery.</param>
/// <param name="NextAttemptAt">When it is tried next (while <c>pending</c>).</param>
/// <param name="DeliveredAt">When a 2xx came back.</param>
/// <param name="FirstAttemptAt">When it was first tried.</param>
/// <param name="Tries">Its last tries (up to 20).</param>
public sealed record WebhookDelivery(
    string Id,
    string Type,
    string Status,
    int Attempts,
    DateTimeOffset CreatedAt,
    DateTimeOffset? LastAttemptAt,
    int? LastStatusCode,
    string? LastError,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset? DeliveredAt,
    DateTimeOffset? FirstAttemptAt = null,
    IReadOnlyList<WebhookTry>? Tries = null);

/// <summary>One try of a webhook delivery.</summary>
/// <param name="At">When it was sent.</param>
/// <param name="StatusCode">The receiver's HTTP status; 0 when no answer came (refused, timed out, blocked address).</param>
/// <param name="Error">Why it was not a delivery; null for a 2xx.</param>
public sealed record WebhookTry(DateTimeOffset At, int StatusCode, string? Error);

/// <summary>A page of dead letters.</summary>
internal sealed record DeadLetterPage(IReadOnlyList<Job> Items, string? NextCursor);

/// <summary>The body of <c>POST /jobs</c>'s 202.</summary>
internal sealed record SubmitAnswer(string JobId, string Status, DateTimeOffset CreatedAt);

/// <summary>An RFC 9457 problem as the API writes it.</summary>
internal sealed class ProblemBody
{
    public string? Type { get; init; }

    public string? Title { get; init; }

    public int? Status { get; init; }

    public string? Detail { get; init; }

    public string? TraceId { get; init; }

    public IReadOnlyDictionary<string, string[]>? Errors { get; init; }

    /// <summary>The problem's other members (a <c>quota-exceeded</c> 429's <c>quota</c> and <c>limit</c>, …).</summary>
    [System.Text.Json.Serialization.JsonExtensionData]
    public Dictionary<string, System.Text.Json.JsonElement>? Extensions { get; set; }
}

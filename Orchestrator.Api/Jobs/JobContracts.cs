using System.ComponentModel.DataAnnotations;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// The limits of a submission, written once: the validation attributes on <see cref="SubmitJobRequest"/>,
/// its rules, and the OpenAPI document read them. Lengths count Unicode scalar values (what JSON
/// Schema's <c>maxLength</c> counts), so an emoji is one character.
/// </summary>
public static class JobLimits
{
    /// <summary>Longest <c>model</c>, in characters.</summary>
    public const int MaxModelLength = 200;

    /// <summary>
    /// Whether <paramref name="model"/> can name a model: not blank, no whitespace at either end, no
    /// control or format character (a NUL, a tab, a right-to-left mark). With no provider configured any
    /// name is served, and "", " simulated-llm " or a NUL were stored as the job's model, shown as the
    /// answering model, and not findable with <c>GET /jobs?model=</c> (an outside audit).
    /// </summary>
    public static bool IsModelName(string model) =>
        model.Length > 0 && !char.IsWhiteSpace(model[0]) && !char.IsWhiteSpace(model[^1])
        && !model.Any(static c => char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Control or System.Globalization.UnicodeCategory.Format);

    /// <summary>Most <c>fallbackModels</c> entries.</summary>
    public const int MaxFallbackModels = 8;

    /// <summary>Largest <c>maxTokens</c>.</summary>
    public const int MaxTokens = 1_000_000;

    /// <summary>Largest <c>temperature</c>.</summary>
    public const double MaxTemperature = 2;

    /// <summary>Most <c>metadata</c> entries.</summary>
    public const int MaxMetadataEntries = 32;

    /// <summary>The refusal of a <c>metadata</c> object with more than <see cref="MaxMetadataEntries"/> entries.</summary>
    public static readonly string TooManyMetadataEntries = $"metadata has more than {MaxMetadataEntries} entries.";

    /// <summary>Longest <c>metadata</c> key, in characters.</summary>
    public const int MaxMetadataKeyLength = 64;

    /// <summary>Longest <c>metadata</c> value, in characters.</summary>
    public const int MaxMetadataValueLength = 1024;

    /// <summary>Deepest nesting of objects and arrays a body may have.</summary>
    public const int MaxJsonDepth = 16;

    /// <summary>
    /// The longest W3C <c>tracestate</c> kept with a job, in characters (ASCII by the spec). The
    /// spec asks vendors to propagate at least 512; a longer header is dropped (the trace still
    /// links through <c>traceparent</c>), not refused: it is a client's tracing, not its job.
    /// </summary>
    public const int MaxTraceStateLength = 512;
}

/// <summary>The body of <c>POST /jobs</c>: only <c>prompt</c> is required.</summary>
public sealed class SubmitJobRequest : IValidatableObject
{
    /// <summary>Required, not blank, at most <c>Api:MaxPromptLength</c> characters.</summary>
    [RequiredString]
    public string? Prompt
    {
        get;

        // A setter, not init: the source-generated serializer sets every init property, present or not.
        set
        {
            field = value;
            PromptSent = true;
        }
    }

    /// <summary>Whether the body had a <c>prompt</c> (perhaps <c>null</c>), so a null one is named as such, not as missing.</summary>
    [JsonIgnore]
    internal bool PromptSent { get; private set; }

    /// <summary>Optional model name, at most 200 characters: one <c>GET /models</c> lists (else 400). Absent: <c>Llm:DefaultModel</c>.</summary>
    [CharacterLength(JobLimits.MaxModelLength)]
    public string? Model { get; init; }

    /// <summary>Optional, 1 to 1,000,000.</summary>
    [IntegerRange(1, JobLimits.MaxTokens)]
    public int? MaxTokens { get; init; }

    /// <summary>Optional, 0 to 2.</summary>
    [Range(0, JobLimits.MaxTemperature, ErrorMessage = "temperature must be a number from 0 to 2.")]
    public double? Temperature { get; init; }

    /// <summary>Optional string map: at most 32 entries, keys 1 to 64 and values up to 1,024 characters, at most <c>Api:MaxMetadataBytes</c> in all as stored.</summary>
    public Dictionary<string, string>? Metadata { get; init; }

    /// <summary>
    /// Optional, up to 8 served models (each 1 to 200 characters) tried in order when the model's
    /// circuit is open or its context window is too small.
    /// </summary>
    [MaxLength(JobLimits.MaxFallbackModels, ErrorMessage = "fallbackModels must be an array of at most 8 model names.")]
    public List<string>? FallbackModels { get; init; }

    /// <summary>
    /// Optional absolute <c>https</c> URL, at most 2,048 characters, whose host resolves only to
    /// public addresses: a signed webhook (Standard Webhooks) is sent to it at each final transition.
    /// <c>Webhooks:AllowPrivateNetworks</c> also allows <c>http</c> and private addresses.
    /// </summary>
    [MaxLength(WebhookOptions.MaxUrlLength, ErrorMessage = "callbackUrl must be at most 2048 characters.")]
    public string? CallbackUrl { get; init; }

    /// <summary>
    /// Optional: <c>high</c>, <c>normal</c> (default) or <c>low</c>. Orders the caller's own jobs (tenants
    /// share workers by weight, whatever their jobs' priorities); a <c>low</c> job that has waited
    /// <c>Scheduling:MaxLowPriorityWait</c> (default 10 min) goes first of its tenant's jobs.
    /// </summary>
    public string? Priority { get; init; }

    /// <summary>The rules attributes cannot state: a configured prompt limit, and metadata entries.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var options = validationContext.GetRequiredService<IOptions<ApiOptions>>().Value;
        var maxPromptLength = options.MaxPromptLength;
        if (string.IsNullOrWhiteSpace(Prompt))
        {
            yield return new ValidationResult("prompt must not be blank.", ["prompt"]);
        }
        else if (CharacterLengthAttribute.Count(Prompt) is var length && length > maxPromptLength)
        {
            yield return new ValidationResult($"prompt is {length:N0} characters; the limit is {maxPromptLength:N0}.", ["prompt"]);
        }

        if (CallbackUrl is { Length: <= WebhookOptions.MaxUrlLength }
            && CallbackUrls.FormProblem(CallbackUrl, validationContext.GetService<IOptions<WebhookOptions>>()?.Value.AllowPrivateNetworks ?? false) is { } callbackProblem)
        {
            yield return new ValidationResult(callbackProblem, ["callbackUrl"]);
        }

        if (Priority is not null && !JobPriority.IsValid(Priority))
        {
            yield return new ValidationResult("priority must be high, normal or low.", ["priority"]);
        }

        if (Model is not null && !JobLimits.IsModelName(Model))
        {
            yield return new ValidationResult(
                "model must not be blank, begin or end with whitespace, or contain control or format characters.", ["model"]);
        }

        if (FallbackModels?.Any(m => m is null || CharacterLengthAttribute.Count(m) is 0 or > JobLimits.MaxModelLength || !JobLimits.IsModelName(m)) == true)
        {
            yield return new ValidationResult(
                $"fallbackModels must be an array of model names (1 to {JobLimits.MaxModelLength} characters each, no whitespace at either end, no control or format characters).",
                ["fallbackModels"]);
        }

        if (Metadata is { Count: > JobLimits.MaxMetadataEntries })
        {
            yield return new ValidationResult(JobLimits.TooManyMetadataEntries, ["metadata"]);
            yield break;
        }

        var entriesValid = true;
        foreach (var (key, value) in Metadata ?? [])
        {
            var problem = CharacterLengthAttribute.Count(key) is 0 or > JobLimits.MaxMetadataKeyLength
                ? $"metadata keys must be 1 to {JobLimits.MaxMetadataKeyLength} characters of valid Unicode."
                : value is null
                    ? $"metadata['{key}'] must be a string, not null."
                    : CharacterLengthAttribute.Count(value) is var chars && chars > JobLimits.MaxMetadataValueLength
                        ? $"metadata['{key}'] is {chars:N0} characters; the limit is {JobLimits.MaxMetadataValueLength:N0}."
                        : null;
            if (problem is not null)
            {
                entriesValid = false;
                yield return new ValidationResult(problem, ["metadata"]);
            }
        }

        if (entriesValid && Metadata is { Count: > 0 } && JobMetadata.StoredBytes(Metadata) is var bytes && bytes > options.MaxMetadataBytes)
        {
            yield return new ValidationResult($"metadata takes {bytes:N0} bytes as stored (JSON, UTF-8; characters outside ASCII and \" & ' + < > ` escaped, 6 bytes each); " +
                $"the limit is {options.MaxMetadataBytes:N0} (Api:MaxMetadataBytes).", ["metadata"]);
        }
    }
}

/// <summary>The 202 answer to a submission (and, byte for byte, to its idempotent replays).</summary>
public sealed record SubmitJobResponse(string JobId, string Status, DateTime CreatedAt);

/// <summary>A job as clients see it. Times are ISO-8601 UTC.</summary>
/// <param name="Usage">Tokens and cost of all its attempts.</param>
/// <param name="Tenant">The tenant the job belongs to.</param>
/// <param name="TraceId">The W3C trace id its submission started (every attempt's span is in that trace); null when none was recorded.</param>
/// <param name="Priority">high, normal or low: orders the tenant's own jobs.</param>
public sealed record JobResource(
    string JobId,
    string Status,
    string Prompt,
    string? Model,
    int? MaxTokens,
    double? Temperature,
    IReadOnlyDictionary<string, string>? Metadata,
    int Attempts,
    int? MaxAttempts,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    DateTime? CompletedAt,
    DateTime? NextAttemptAt,
    JobResult? Result,
    JobError? Error,
    IReadOnlyList<AttemptResource> History,
    IReadOnlyList<string>? FallbackModels,
    LlmUsage Usage,
    string Tenant,
    string? TraceId,
    string? CallbackUrl,
    IReadOnlyList<WebhookDeliveryResource> Webhooks,
    string Priority)
{
    public static JobResource From(Job job) => new(
        job.Id,
        job.Status,
        job.Request.Prompt,
        job.Request.Model,
        job.Request.MaxTokens,
        job.Request.Temperature,
        job.Request.Metadata,
        job.Attempts,
        job.MaxAttempts,
        job.CreatedAt.UtcDateTime,
        job.UpdatedAt.UtcDateTime,
        job.CompletedAt?.UtcDateTime,
        job.NextAttemptAt?.UtcDateTime,
        job.Result,
        job.Error,
        [.. job.History.Select(AttemptResource.From)],
        job.Request.FallbackModels,
        job.Usage,
        job.Tenant,
        job.TraceParent is { Length: 55 } traceParent ? traceParent[3..35] : null,
        job.Request.CallbackUrl,
        [.. job.Webhooks.Select(WebhookDeliveryResource.From)],
        job.Request.Priority ?? JobPriority.Normal);
}

/// <summary>
/// One webhook delivery of a job (issue 19): a final transition sent to the job's <c>callbackUrl</c>.
/// <c>id</c> is the <c>webhook-id</c> header of every try.
/// </summary>
/// <param name="Type">The event: <c>job.completed</c>, <c>job.failed</c>, … (<c>job.</c> + the final status).</param>
/// <param name="Status"><c>pending</c> (its next try is due at <c>nextAttemptAt</c>), <c>delivered</c> (a 2xx came back) or <c>failed</c> (given up after <c>Webhooks:MaxAge</c>).</param>
/// <param name="LastStatusCode">The receiver's HTTP status at the last try; 0 when none came.</param>
/// <param name="Tries">The last 20 tries, oldest first.</param>
public sealed record WebhookDeliveryResource(
    string Id,
    string Type,
    string Status,
    int Attempts,
    DateTime CreatedAt,
    DateTime? FirstAttemptAt,
    DateTime? LastAttemptAt,
    int? LastStatusCode,
    string? LastError,
    DateTime? NextAttemptAt,
    DateTime? DeliveredAt,
    IReadOnlyList<WebhookTryResource> Tries)
{
    public static WebhookDeliveryResource From(WebhookDelivery d) => new(
        d.Id, d.Type, d.Status, d.Attempts, d.CreatedAt.UtcDateTime, d.FirstAttemptAt?.UtcDateTime, d.LastAttemptAt?.UtcDateTime,
        d.LastStatusCode, d.LastError, d.NextAttemptAt?.UtcDateTime, d.DeliveredAt?.UtcDateTime,
        [.. d.Tries.Select(t => new WebhookTryResource(t.At.UtcDateTime, t.StatusCode, t.Error))]);
}

/// <summary>One try of a webhook delivery.</summary>
/// <param name="StatusCode">The receiver's HTTP status; 0 when no answer came (refused, timed out, blocked address).</param>
public sealed record WebhookTryResource(DateTime At, int StatusCode, string? Error);

/// <summary>One attempt of a job.</summary>
/// <param name="Model">The model that answered (the job's, or a fallback); null when none did.</param>
/// <param name="Usage">Tokens and cost of the attempt; null when the provider answered no usage.</param>
public sealed record AttemptResource(
    int Attempt,
    DateTime StartedAt,
    DateTime? EndedAt,
    string? Outcome,
    JobError? Error,
    long? RetryDelayMs,
    string? Model,
    LlmUsage? Usage)
{
    public static AttemptResource From(AttemptRecord a) =>
        new(a.Attempt, a.StartedAt.UtcDateTime, a.EndedAt?.UtcDateTime, a.Outcome, a.Error, a.RetryDelayMs, a.Model, a.Usage);
}

/// <summary>A page of dead-lettered jobs, newest first.</summary>
/// <param name="NextCursor">Pass as <c>cursor</c> for the next page; null on the last page.</param>
public sealed record DeadLetterPageResource(IReadOnlyList<JobResource> Items, string? NextCursor);

/// <summary>A page of jobs, newest first.</summary>
/// <param name="NextCursor">Pass as <c>cursor</c> for the next page; null on the last page.</param>
public sealed record JobPageResource(IReadOnlyList<JobResource> Items, string? NextCursor);

/// <summary>
/// A job as a listing shows it (<c>GET /jobs/summaries</c>): what it is and where it stands, without its
/// prompt, answer, history or deliveries, so that a page of jobs with long prompts and answers is a
/// page of 100 rows in a few kilobytes, not a few rows cut at <c>Api:MaxJobsPageBytes</c>.
/// </summary>
public sealed record JobSummaryResource(
    string JobId,
    string Status,
    string Tenant,
    string? Model,
    string Priority,
    int Attempts,
    int? MaxAttempts,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    DateTime? CompletedAt,
    DateTime? NextAttemptAt)
{
    public static JobSummaryResource From(Job job) => new(
        job.Id,
        job.Status,
        job.Tenant,
        job.Request.Model,
        job.Request.Priority ?? JobPriority.Normal,
        job.Attempts,
        job.MaxAttempts,
        job.CreatedAt.UtcDateTime,
        job.UpdatedAt.UtcDateTime,
        job.CompletedAt?.UtcDateTime,
        job.NextAttemptAt?.UtcDateTime);
}

/// <summary>A page of job summaries, newest first.</summary>
/// <param name="NextCursor">Pass as <c>cursor</c> for the next page (of summaries or of jobs: the cursors are the same); null on the last page.</param>
public sealed record JobSummaryPageResource(IReadOnlyList<JobSummaryResource> Items, string? NextCursor);

/// <summary>Jobs by status among the newest <paramref name="Window"/> jobs.</summary>
/// <param name="ByStatus">Status → number of jobs (statuses with none are absent).</param>
/// <param name="Counted">Jobs counted (finished jobs past their retention are not).</param>
/// <param name="Window">How many of the newest jobs were looked at, at most.</param>
public sealed record JobCountsResource(IReadOnlyDictionary<string, long> ByStatus, long Counted, int Window);

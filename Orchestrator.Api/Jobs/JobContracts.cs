using Orchestrator.Jobs;

namespace Orchestrator.Api.Jobs;

/// <summary>The body of <c>POST /jobs</c> (documents the contract; the body is parsed by <see cref="SubmitRequestReader"/>).</summary>
/// <param name="Prompt">Required, not blank, at most <c>Api:MaxPromptLength</c> characters.</param>
/// <param name="Model">Optional model name, at most 200 characters.</param>
/// <param name="MaxTokens">Optional, 1 to 1,000,000.</param>
/// <param name="Temperature">Optional, 0 to 2.</param>
/// <param name="Metadata">Optional string map: at most 32 entries, keys up to 64 and values up to 1,024 characters, at most <c>Api:MaxMetadataBytes</c> in all as stored.</param>
public sealed record SubmitJobRequest(
    string Prompt,
    string? Model,
    int? MaxTokens,
    double? Temperature,
    Dictionary<string, string>? Metadata);

/// <summary>The 202 answer to a submission (and, byte for byte, to its idempotent replays).</summary>
public sealed record SubmitJobResponse(string JobId, string Status, DateTime CreatedAt);

/// <summary>A job as clients see it. Times are ISO-8601 UTC.</summary>
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
    IReadOnlyList<AttemptResource> History)
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
        [.. job.History.Select(AttemptResource.From)]);
}

/// <summary>One attempt of a job.</summary>
public sealed record AttemptResource(
    int Attempt,
    DateTime StartedAt,
    DateTime? EndedAt,
    string? Outcome,
    JobError? Error,
    long? RetryDelayMs)
{
    public static AttemptResource From(AttemptRecord a) =>
        new(a.Attempt, a.StartedAt.UtcDateTime, a.EndedAt?.UtcDateTime, a.Outcome, a.Error, a.RetryDelayMs);
}

/// <summary>A page of dead-lettered jobs, newest first.</summary>
/// <param name="NextCursor">Pass as <c>cursor</c> for the next page; null on the last page.</param>
public sealed record DeadLetterPageResource(IReadOnlyList<JobResource> Items, string? NextCursor);

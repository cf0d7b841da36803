using System.Diagnostics;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Orchestrator.Worker.Processing;
using Orchestrator.Worker.Resilience;

namespace Orchestrator.Worker.Telemetry;

/// <summary>
/// The span of one attempt. It starts a trace of its own and links to the submission's span, so
/// a job retried over an hour is several short traces tied to one submission, not one hour-long trace.
/// </summary>
internal static class AttemptSpan
{
    public const string Name = "llm attempt";

    /// <param name="model">The model the job asks for (the default when it names none), before any fallback.</param>
    public static Activity? Start(JobExecution execution, Orchestrator.Llm.ServedModel? model) =>
        Start(execution.Job, execution.Attempt, execution.MaxAttempts, execution.Reclaimed, model, startTime: default);

    /// <summary>
    /// The span of an attempt its worker did not end: it died mid-attempt, and the claim that took the
    /// job over closed the attempt as <c>worker-lost</c> (<see cref="Job.LostAttempt"/>). Timed as the
    /// history has it, from its start to that claim, and ended at once.
    /// </summary>
    public static void Lost(Job job, AttemptRecord attempt, int maxAttempts, Orchestrator.Llm.ServedModel? model, JobError error)
    {
        var ambient = Activity.Current;
        var activity = Start(job, attempt.Attempt, maxAttempts, reclaimed: false, model, attempt.StartedAt);
        if (activity is not null && attempt.EndedAt is { } ended)
        {
            activity.SetEndTime(ended.UtcDateTime);
        }

        End(activity, AttemptOutcome.WorkerLost, error, retryDelay: null);
        Activity.Current = ambient;
    }

    private static Activity? Start(Job job, int attempt, int maxAttempts, bool reclaimed, Orchestrator.Llm.ServedModel? model, DateTimeOffset startTime)
    {
        ActivityLink[]? links = TryGetSubmission(job, out var submission) ? [new ActivityLink(submission)] : null;

        // The attempt must not become a child of whatever span happens to be ambient.
        Activity.Current = null;
        var activity = OrchestratorTelemetry.ActivitySource.StartActivity(
            Name, ActivityKind.Client, parentContext: default, tags: null, links: links, startTime: startTime);
        if (activity is null)
        {
            return null;
        }

        // AddTag, not SetTag: the span is new, and SetTag looks each name up in the tags so far.
        activity.AddTag(OrchestratorTags.JobId, job.Id);
        activity.AddTag(OrchestratorTags.Tenant, job.Tenant);
        activity.AddTag(OrchestratorTags.Attempt, attempt);
        activity.AddTag(OrchestratorTags.MaxAttempts, maxAttempts);
        activity.AddTag("gen_ai.operation.name", "chat");
        if (model?.ProviderName is { } provider)
        {
            activity.AddTag("gen_ai.provider.name", provider);
        }

        if ((model?.Name ?? job.Request.Model) is { } requested)
        {
            activity.AddTag("gen_ai.request.model", requested);
        }

        if (job.Request.MaxTokens is { } maxTokens)
        {
            activity.AddTag("gen_ai.request.max_tokens", maxTokens);
        }

        activity.AddTag(OrchestratorTags.Reclaimed, reclaimed);
        return activity;
    }

    /// <summary>Tags what the call used: the model that answered (maybe a fallback), its provider, tokens and cost.</summary>
    public static void Answered(Activity? activity, Llm.LlmAnswer answer)
    {
        if (activity is null)
        {
            return;
        }

        // A fallback model replaces the requested one's tags; the rest are new.
        activity.SetTag("gen_ai.provider.name", answer.Model.ProviderName);
        activity.SetTag("gen_ai.request.model", answer.Model.Name);
        activity.AddTag("gen_ai.response.model", answer.ResponseModel);
        activity.AddTag("gen_ai.usage.input_tokens", answer.InputTokens);
        activity.AddTag("gen_ai.usage.output_tokens", answer.OutputTokens);
        activity.AddTag("orchestrator.llm.cost", (double)answer.Cost);
    }

    /// <summary>The trace id of the job's submission, for log lines written outside an attempt span.</summary>
    public static string? SubmissionTraceId(Job job) =>
        TryGetSubmission(job, out var submission) ? submission.TraceId.ToHexString() : null;

    private static bool TryGetSubmission(Job job, out ActivityContext submission) =>
        ActivityContext.TryParse(job.TraceParent, job.TraceState, isRemote: true, out submission);

    /// <param name="error">The attempt's error as stored (keys redacted); null when it has none.</param>
    public static void End(Activity? activity, string outcome, JobError? error, TimeSpan? retryDelay)
    {
        if (activity is null)
        {
            return;
        }

        // Ended once (the caller lets go of the span): these tags are new, as in Start.
        activity.AddTag(OrchestratorTags.Outcome, outcome);
        if (retryDelay is { } delay)
        {
            activity.AddTag(OrchestratorTags.RetryDelayMs, (long)delay.TotalMilliseconds);
        }

        if (error is not null)
        {
            // The stored error's message, not the exception's: a provider's text with its keys redacted.
            activity.AddTag(OrchestratorTags.ErrorType, error.Type);
            activity.SetStatus(ActivityStatusCode.Error, error.Message);
        }
        else
        {
            activity.SetStatus(ActivityStatusCode.Ok);
        }

        activity.Stop();
        activity.Dispose();
    }
}

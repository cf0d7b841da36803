using Orchestrator.Jobs;
using Orchestrator.Worker.Llm;
using Polly.Timeout;

namespace Orchestrator.Worker.Processing;

/// <summary>Where an LLM error is judged transient (retry) or permanent (dead-letter now).</summary>
public static class AttemptFailure
{
    /// <summary>Whether another attempt could succeed where this one failed.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        TransientLlmException or TimeoutRejectedException => true,
        // HttpClient reports its own timeout as a cancellation with a TimeoutException inside.
        TaskCanceledException { InnerException: TimeoutException } => true,
        HttpRequestException { StatusCode: null } => true,
        HttpRequestException { StatusCode: { } code } => (int)code is 408 or 429 or >= 500,
        _ => false,
    };

    /// <summary>The outcome recorded for the attempt that threw <paramref name="exception"/>.</summary>
    public static string OutcomeOf(Exception exception) => exception switch
    {
        TimeoutRejectedException => AttemptOutcome.Timeout,
        _ when IsTransient(exception) => AttemptOutcome.TransientFailure,
        _ => AttemptOutcome.PermanentFailure,
    };

    /// <summary>The error stored on the job and its history.</summary>
    public static JobError ErrorOf(Exception exception) => exception switch
    {
        TimeoutRejectedException => new JobError("timeout", "The LLM call exceeded Retry:AttemptTimeout."),
        TransientLlmException => new JobError("transient", exception.Message),
        PermanentLlmException => new JobError("invalid-request", exception.Message),
        HttpRequestException http => new JobError(IsTransient(http) ? "transient" : "provider-error", http.Message),
        _ => new JobError("unexpected", $"{exception.GetType().Name}: {exception.Message}"),
    };
}

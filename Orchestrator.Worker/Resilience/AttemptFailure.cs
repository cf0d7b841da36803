using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;
using Polly.Timeout;

namespace Orchestrator.Worker.Resilience;

/// <summary>
/// Where an LLM error is judged transient (retry) or permanent (dead-letter now), by the one
/// taxonomy of <see cref="LlmErrorKind"/> (README "Errors"). Waits for a deployment
/// (<see cref="CapacityWaitException"/>) are neither: the pipeline waits them out without spending
/// an attempt, and only one that exceeds <c>Llm:MaxRateLimitWait</c> reaches here, as <c>rate-limited</c>.
/// </summary>
public static class AttemptFailure
{
    /// <summary>The error type of a failure nothing classified: a bug, logged with its stack trace.</summary>
    public const string UnexpectedType = "unexpected";

    /// <summary>
    /// The longest error message stored on a job (characters): a longer one keeps its first
    /// <see cref="MaxMessageLength"/> characters and ends with <c>… [N more characters cut]</c>. A
    /// provider writes these messages, not a client, and a 500 with a megabyte of message, stored in
    /// every attempt's history, the job's error and its webhook, could fill Redis's memory alone.
    /// </summary>
    public const int MaxMessageLength = 4096;

    /// <summary>Whether another attempt could succeed where this one failed.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        LlmException llm => LlmErrorKinds.IsTransient(llm.Kind),
        TimeoutRejectedException or CallTimeoutException => true,
        // HttpClient reports its own timeout as a cancellation with a TimeoutException inside.
        TaskCanceledException { InnerException: TimeoutException } => true,
        _ => LlmFailure.IsTransient(exception),
    };

    /// <summary>The outcome recorded for the attempt that threw <paramref name="exception"/>.</summary>
    public static string OutcomeOf(Exception exception) => exception switch
    {
        TimeoutRejectedException or CallTimeoutException => AttemptOutcome.Timeout,
        _ when IsTransient(exception) => AttemptOutcome.TransientFailure,
        _ => AttemptOutcome.PermanentFailure,
    };

    /// <summary>The error stored on the job, its history and its webhook; its message with the providers' keys redacted, at most <see cref="MaxMessageLength"/> characters and a mark.</summary>
    /// <param name="deploymentWaited">What the job had waited for deployments before, across workers: named when a wait ends it.</param>
    public static JobError ErrorOf(Exception exception, TimeSpan deploymentWaited = default) => Bounded(exception switch
    {
        TimeoutRejectedException => new JobError("timeout", CallTimeoutException.AttemptMessage),
        CallTimeoutException timeout => new JobError("timeout", timeout.Message),
        LlmException llm => new JobError(LlmErrorKinds.TypeOf(llm.Kind), llm.Message),
        // Such a wait is refused before it starts: the job did not wait it (a 429's Retry-After of
        // two hours against a bound of one fails at once).
        CapacityWaitException wait => new JobError(LlmErrorKinds.TypeOf(LlmErrorKind.RateLimited),
            (deploymentWaited > TimeSpan.Zero
                ? $"Deployment '{wait.Provider}' needs a wait of {wait.Wait.TotalMilliseconds:0} ms ({wait.Reason}); after the {deploymentWaited.TotalMilliseconds:0} ms this job has waited for deployments, that is more than Llm:MaxRateLimitWait allows."
                : $"Deployment '{wait.Provider}' needs a wait of {wait.Wait.TotalMilliseconds:0} ms ({wait.Reason}), more than Llm:MaxRateLimitWait allows; the job did not wait.")
            // A circuit opened by 503s is no 429: the provider's own words say what kept the job waiting;
            // and a 429's own words are the provider's, which the docs promise of every stored error.
            + (wait.Cause is not { } cause ? "" : wait.Reason == LlmCaller.CircuitOpen ? $" Its circuit opened on: {cause}" : $" The deployment answered: {cause}")),
        // Only the kind is read here, not a 429's wait: any clock does.
        _ when LlmFailure.Classify(exception, TimeProvider.System.GetUtcNow()) is { } llm => new JobError(LlmErrorKinds.TypeOf(llm.Kind), exception.Message),
        _ => new JobError(UnexpectedType, $"{exception.GetType().Name}: {exception.Message}"),
    });

    /// <summary>
    /// The error on the span of an attempt taken back for a deployment wait (<c>deferred</c>): the wait
    /// as it was, not <see cref="ErrorOf"/>'s text for a wait refused (which said the job did not wait).
    /// </summary>
    public static JobError DeferredErrorOf(CapacityWaitException wait) =>
        Bounded(new JobError(LlmErrorKinds.TypeOf(LlmErrorKind.RateLimited), wait.Message + " The attempt was taken back; the job waits in the delayed set."));

    /// <summary>
    /// <paramref name="message"/> as it may be stored or logged: the providers' keys redacted
    /// (<see cref="ProviderSecrets"/>), then cut to <see cref="MaxMessageLength"/> characters and a mark when longer.
    /// </summary>
    public static string BoundedMessage(string message)
    {
        // Redacted whole before the cut: a key across the bound would keep its start.
        message = ProviderSecrets.Redact(message);
        if (message.Length <= MaxMessageLength)
        {
            return message;
        }

        // Never half of a surrogate pair: the stored JSON would hold an unpaired one.
        var kept = char.IsHighSurrogate(message[MaxMessageLength - 1]) ? MaxMessageLength - 1 : MaxMessageLength;
        return $"{message.AsSpan(0, kept)}… [{message.Length - kept} more characters cut]";
    }

    private static JobError Bounded(JobError error) => error with { Message = BoundedMessage(error.Message) };
}

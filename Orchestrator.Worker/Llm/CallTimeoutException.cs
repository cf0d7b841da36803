namespace Orchestrator.Worker.Llm;

/// <summary>
/// The LLM call was cancelled by a timeout, not by its job (canceled, the worker shutting down, the
/// lease lost): a hung provider. The deployment's circuit counts it as a failure; the attempt's
/// outcome is <c>timeout</c>. Cut by the attempt's timeout (<c>Retry:AttemptTimeout</c>), the
/// pipeline's timeout strategy reports it as <c>TimeoutRejectedException</c>; cut for its silence
/// (<c>Llm:StreamIdleTimeout</c>, <see cref="Idle"/>), it is the attempt's exception itself.
/// </summary>
public sealed class CallTimeoutException(string message, OperationCanceledException inner, CancellationToken token)
    : OperationCanceledException(message, inner, token)
{
    /// <summary>The message of a call cut by <c>Retry:AttemptTimeout</c>.</summary>
    public const string AttemptMessage = "The LLM call exceeded Retry:AttemptTimeout.";

    /// <summary>Cut by the attempt's timeout.</summary>
    public CallTimeoutException(OperationCanceledException inner, CancellationToken token)
        : this(AttemptMessage, inner, token)
    {
    }

    /// <summary>Cut because the provider sent nothing for <paramref name="limit"/>.</summary>
    public static CallTimeoutException Idle(TimeSpan limit, bool heardAny, OperationCanceledException inner, CancellationToken token) =>
        new(heardAny
            ? $"The provider sent nothing for Llm:StreamIdleTimeout ({limit:c}) after its answer began."
            : $"The provider sent nothing for Llm:StreamIdleTimeout ({limit:c}) before its answer began.", inner, token);
}

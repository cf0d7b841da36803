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

    /// <summary>
    /// Cut because the provider sent nothing for <paramref name="limit"/>: after a chunk
    /// (<paramref name="heardAny"/>), after its response's headers (<paramref name="responded"/>), or
    /// before those were whole. No read tells of the headers' bytes: a provider that trickles them is
    /// as silent as one that sends nothing, so that message says only that they did not come.
    /// </summary>
    public static CallTimeoutException Idle(TimeSpan limit, bool heardAny, bool responded, OperationCanceledException inner, CancellationToken token) =>
        new((heardAny, responded) switch
        {
            (true, _) => $"The provider sent nothing for Llm:StreamIdleTimeout ({limit:c}) after its answer began.",
            (false, true) => $"The provider sent nothing for Llm:StreamIdleTimeout ({limit:c}) before its answer began.",
            _ => $"The provider's response headers did not come whole within Llm:StreamIdleTimeout ({limit:c}).",
        }, inner, token);
}

namespace Orchestrator.Client;

/// <summary>
/// A submission got no answer: every send timed out or failed to connect, re-sends included. The job
/// may exist (a send can reach the API and lose its answer); sending it again with
/// <see cref="IdempotencyKey"/> answers for that job instead of making a second one.
/// <see cref="Exception.InnerException"/> is the last send's failure.
/// </summary>
public sealed class OrchestratorUnreachableException(string idempotencyKey, Exception innerException)
    : Exception($"The Orchestrator API did not answer the submission ({innerException.Message}); the job may exist: send it again with idempotency key '{idempotencyKey}'.", innerException)
{
    /// <summary>The idempotency key the submission was sent with (the caller's, or the one the client made).</summary>
    public string IdempotencyKey { get; } = idempotencyKey;
}

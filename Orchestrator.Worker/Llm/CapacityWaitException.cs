namespace Orchestrator.Worker.Llm;

/// <summary>
/// The call may not go out yet: the deployment is cooling down after a 429, its limits or permits
/// are taken, or its circuit is open with no fallback. The job waits <see cref="Wait"/> and tries
/// again within the same attempt: no attempt is spent. <see cref="Reason"/> is <c>rate-limited</c>,
/// <c>capacity</c>, <c>concurrency</c> or <c>circuit-open</c>.
/// </summary>
public sealed class CapacityWaitException(TimeSpan wait, string reason, string provider)
    : Exception($"Deployment '{provider}': {reason}; waiting {wait.TotalMilliseconds:0} ms without spending an attempt.")
{
    /// <summary>How long to wait before trying again.</summary>
    public TimeSpan Wait { get; } = wait;

    /// <summary>Why (see the class summary).</summary>
    public string Reason { get; } = reason;

    /// <summary>The deployment waited for.</summary>
    public string Provider { get; } = provider;
}

namespace Orchestrator.Api.Jobs;

/// <summary>
/// Fewer replicas than <c>Redis:WaitReplicas</c> confirmed a round trip of submissions in time. The
/// jobs may exist on the master (and may survive), but were not acknowledged: the client retries
/// with the same idempotency key.
/// </summary>
internal sealed class ReplicasNotConfirmedException(int required, long confirmed)
    : Exception($"{confirmed} of the {required} required replicas confirmed the write in time.")
{
    /// <summary>How many replicas had to confirm.</summary>
    public int Required { get; } = required;

    /// <summary>How many did.</summary>
    public long Confirmed { get; } = confirmed;
}

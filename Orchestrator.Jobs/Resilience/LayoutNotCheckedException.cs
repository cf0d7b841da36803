namespace Orchestrator.Jobs;

/// <summary>
/// A write refused because this service's <c>Jobs:Partitions</c> differs from the count the data in
/// Redis was laid out with (<see cref="JobStore.RequireLayoutCheck"/>). Classified as Redis not ready
/// (<see cref="RedisFailure"/>): the API answers <c>503</c>, a worker retries, and the service stops
/// (<c>EvictionPolicyGuard</c>) before anything is written.
/// </summary>
public sealed class LayoutNotCheckedException(PartitionCheck check)
    : Exception($"Jobs:Partitions is {check.Configured} but the job data in Redis is laid out in {check.Recorded} partition(s): nothing is written, and the service stops.")
{
    /// <summary>What the check found.</summary>
    public PartitionCheck Check { get; } = check;
}

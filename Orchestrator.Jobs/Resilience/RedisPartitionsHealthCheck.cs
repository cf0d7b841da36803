using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Orchestrator.Jobs;

/// <summary>
/// <c>Unhealthy</c> while a partition's Redis node does not answer (down, paused, frozen, loading),
/// in at most <see cref="Within"/>. It asks the node that serves each partition now, where the Redis
/// client's own check pinged every node it was given: after a cluster failover had moved a dead
/// master's slots to its replica, every API and worker stayed <c>Unhealthy</c> for as long as the
/// dead node stayed down (minutes), while every job was served; and a frozen node held each probe
/// for the command timeout (2.7–5.2 s), past a probe's usual 1–2 s.
/// </summary>
public sealed class RedisPartitionsHealthCheck(JobStore store) : IHealthCheck
{
    /// <summary>The check's name in <c>/health</c>'s log lines.</summary>
    public const string Name = "redis";

    /// <summary>The longest the check waits for each partition's node.</summary>
    public static readonly TimeSpan Within = TimeSpan.FromSeconds(1.5);

    /// <summary>The check, for <c>AddHealthChecks().Add(…)</c>.</summary>
    public static HealthCheckRegistration Registration() =>
        new(Name, services => new RedisPartitionsHealthCheck(services.GetRequiredService<JobStore>()), HealthStatus.Unhealthy, tags: null);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var unanswered = await store.UnansweredPartitionsAsync(Within).ConfigureAwait(false);
        if (unanswered.Count == 0)
        {
            return HealthCheckResult.Healthy(store.Partitions == 1 ? "Redis answers." : $"The Redis nodes of all {store.Partitions} partitions answer.");
        }

        var (partition, reason) = unanswered[0];
        return HealthCheckResult.Unhealthy(store.Partitions == 1
            ? $"Redis does not answer: {reason}"
            : $"The Redis node of {unanswered.Count} of {store.Partitions} partitions does not answer (partition {partition}: {reason}).");
    }
}

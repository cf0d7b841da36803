using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orchestrator.Jobs;

namespace Orchestrator.Worker.Resilience;

/// <summary>
/// Part of <c>/health</c>: degraded while a Redis operation has been retried for <see cref="Degraded"/>
/// without a pause, unhealthy from <see cref="Unhealthy"/>. Redis may answer PING while it refuses every
/// write (a node left a replica after a failover, a full memory); the worker's loops then retry and
/// never fail, so <see cref="WorkerLoopsHealthCheck"/> alone reported such a worker healthy.
/// </summary>
internal sealed class RedisRetriesHealthCheck(RedisRetryStreaks streaks) : IHealthCheck
{
    public static readonly TimeSpan Degraded = TimeSpan.FromSeconds(10);

    public static readonly TimeSpan Unhealthy = TimeSpan.FromSeconds(60);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var stuck = streaks.Current().Where(p => p.Value >= Degraded).ToDictionary(p => p.Key, p => (object)p.Value, StringComparer.Ordinal);
        if (stuck.Count == 0)
        {
            return Task.FromResult(HealthCheckResult.Healthy("No Redis operation has been retried for 10 s."));
        }

        var description = "Redis operations retried without a pause: " + string.Join(", ", stuck.Select(p => $"{p.Key} for {((TimeSpan)p.Value).TotalSeconds:0} s"));
        return Task.FromResult(stuck.Values.Any(v => (TimeSpan)v >= Unhealthy)
            ? HealthCheckResult.Unhealthy(description, data: stuck)
            : HealthCheckResult.Degraded(description, data: stuck));
    }
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Orchestrator.Jobs;

/// <summary>
/// Part of <c>/health</c> in the worker and the API: degraded while a Redis operation has been retried
/// or refused (<see cref="RedisRetryStreaks"/>) for <paramref name="degradedAfter"/> without a pause,
/// unhealthy from <paramref name="unhealthyAfter"/> (never when null). Redis may answer PING while it
/// refuses every write (a node left a replica after a failover, a full memory), so the Redis check
/// alone reported such a service healthy: the worker's loops retry and never fail, and the API
/// answers each submission 503 and carries on.
/// </summary>
public sealed class RedisRetriesHealthCheck(RedisRetryStreaks streaks, TimeSpan degradedAfter, TimeSpan? unhealthyAfter) : IHealthCheck
{
    /// <summary>The check's name in <c>/health</c>.</summary>
    public const string Name = "redis-retries";

    /// <summary>The worker's degraded threshold: its retries wait out a short refusal (a failover's few seconds) by themselves.</summary>
    public static readonly TimeSpan WorkerDegraded = TimeSpan.FromSeconds(10);

    /// <summary>The worker's unhealthy threshold: a refusal that lasts leaves the worker doing nothing.</summary>
    public static readonly TimeSpan WorkerUnhealthy = TimeSpan.FromSeconds(60);

    /// <summary>The worker's: degraded after <see cref="WorkerDegraded"/> of retries, unhealthy from <see cref="WorkerUnhealthy"/>.</summary>
    public static HealthCheckRegistration Worker() => Registration(WorkerDegraded, WorkerUnhealthy);

    /// <summary>
    /// The API's: degraded from the first refused write, never unhealthy for it. The API retries
    /// nothing, so each refusal is already a client's 503; and it still serves every read meanwhile.
    /// </summary>
    public static HealthCheckRegistration Api() => Registration(TimeSpan.Zero, unhealthyAfter: null);

    private static HealthCheckRegistration Registration(TimeSpan degradedAfter, TimeSpan? unhealthyAfter) =>
        new(Name, services => new RedisRetriesHealthCheck(services.GetRequiredService<RedisRetryStreaks>(), degradedAfter, unhealthyAfter),
            failureStatus: null, tags: null);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var stuck = streaks.Current().Where(p => p.Value >= degradedAfter).ToDictionary(p => p.Key, p => (object)p.Value, StringComparer.Ordinal);
        if (stuck.Count == 0)
        {
            return Task.FromResult(HealthCheckResult.Healthy(degradedAfter > TimeSpan.Zero
                ? $"No Redis operation has been retried or refused for {degradedAfter.TotalSeconds:0} s."
                : "No Redis operation is being retried or refused."));
        }

        var description = "Redis operations retried or refused without a pause: " + string.Join(", ", stuck.Select(p => $"{p.Key} for {((TimeSpan)p.Value).TotalSeconds:0} s"));
        return Task.FromResult(unhealthyAfter is { } unhealthy && stuck.Values.Any(v => (TimeSpan)v >= unhealthy)
            ? HealthCheckResult.Unhealthy(description, data: stuck)
            : HealthCheckResult.Degraded(description, data: stuck));
    }
}

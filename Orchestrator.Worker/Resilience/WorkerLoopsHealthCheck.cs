using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Orchestrator.Worker.Resilience;

/// <summary>
/// Part of <c>/health</c>: degraded while a worker loop has just failed, unhealthy once one has
/// failed <see cref="FaultsBeforeUnhealthy"/> times in a row (it survives, but does not work).
/// </summary>
internal sealed class WorkerLoopsHealthCheck(LoopSupervisor loops) : IHealthCheck
{
    /// <summary>Consecutive faults of one loop that make the worker unhealthy.</summary>
    public const int FaultsBeforeUnhealthy = 5;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failing = loops.ConsecutiveFaults.Where(p => p.Value > 0).ToDictionary(p => p.Key, p => (object)p.Value, StringComparer.Ordinal);
        if (failing.Count == 0)
        {
            return Task.FromResult(HealthCheckResult.Healthy("Every worker loop is running."));
        }

        var description = "Worker loops failing (faults in a row): " + string.Join(", ", failing.Select(p => $"{p.Key} {p.Value}"));
        return Task.FromResult(failing.Values.Any(n => (int)n >= FaultsBeforeUnhealthy)
            ? HealthCheckResult.Unhealthy(description, data: failing)
            : HealthCheckResult.Degraded(description, data: failing));
    }
}

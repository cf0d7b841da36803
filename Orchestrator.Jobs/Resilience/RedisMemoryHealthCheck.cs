using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Orchestrator.Jobs;

/// <summary>
/// Part of <c>/health</c> in the worker and the API: <c>Degraded</c> while a Redis primary's memory
/// is at <see cref="NearlyFull"/> of its <c>maxmemory</c> or above. At the limit Redis refuses new
/// jobs (<c>503 storage-full</c>) while it still answers PING; the refused-writes check says so only
/// once a submission has been refused, so a full Redis read <c>Healthy</c> until someone submitted.
/// This one reads it before: an operator's alert comes while there is room to act.
/// </summary>
public sealed class RedisMemoryHealthCheck(JobStore store) : IHealthCheck
{
    /// <summary>The check's name in <c>/health</c>'s log lines.</summary>
    public const string Name = "redis-memory";

    /// <summary>The share of <c>maxmemory</c> from which the check is degraded.</summary>
    public const double NearlyFull = 0.9;

    /// <summary>The check, for <c>AddHealthChecks().Add(…)</c>.</summary>
    public static HealthCheckRegistration Registration() =>
        new(Name, services => new RedisMemoryHealthCheck(services.GetRequiredService<JobStore>()), failureStatus: null, tags: null);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var full = (await store.MemoryUseAsync(RedisPartitionsHealthCheck.Within).ConfigureAwait(false))
            .Where(static m => m.Share >= NearlyFull).OrderByDescending(static m => m.Share).ToList();
        if (full.Count == 0)
        {
            return HealthCheckResult.Healthy($"No Redis primary's memory is at {NearlyFull:P0} of its maxmemory.");
        }

        var description = "Redis memory near its limit (at maxmemory new jobs are refused with 503 storage-full): " + string.Join(", ", full.Select(static m =>
            string.Create(CultureInfo.InvariantCulture, $"{m.Node} uses {m.Used / 1_048_576.0:0.#} MiB of {m.Max / 1_048_576.0:0.#} MiB ({m.Share:P0})")));
        return HealthCheckResult.Degraded(description, data: full.ToDictionary(static m => m.Node, static m => (object)m.Share, StringComparer.Ordinal));
    }
}

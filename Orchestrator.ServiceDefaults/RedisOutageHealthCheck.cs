using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Wraps a health check so that a Redis client error it reports (Redis down, paused, timing out)
/// becomes its description, without the exception: the health service logs an unhealthy check's
/// exception with its stack trace, and while Redis is down every probe (each few seconds, from each
/// orchestrator, load balancer and dashboard) wrote one, for a condition that is expected and
/// already named. Any other exception, a bug, is kept as it was.
/// </summary>
internal sealed class RedisOutageHealthCheck(IHealthCheck inner) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var result = await inner.CheckHealthAsync(context, cancellationToken).ConfigureAwait(false);
        return result.Exception is RedisException or RedisTimeoutException or RedisConnectionException
            ? new HealthCheckResult(result.Status, result.Description ?? $"Redis: {result.Exception.Message}", exception: null, result.Data)
            : result;
    }

    /// <summary>Wraps every registered check (the Redis client's included, however it was registered).</summary>
    public static void WrapAll(HealthCheckServiceOptions options)
    {
        foreach (var registration in options.Registrations)
        {
            var factory = registration.Factory;
            registration.Factory = services => new RedisOutageHealthCheck(factory(services));
        }
    }
}

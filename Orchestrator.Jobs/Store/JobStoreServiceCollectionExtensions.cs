using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Orchestrator.Jobs;

/// <summary>Registers the job store.</summary>
public static class JobStoreServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="JobStore"/> (singleton) over the registered <c>IConnectionMultiplexer</c>, the
    /// <see cref="EvictionPolicyGuard"/> each service runs at start, and the <c>redis</c> resilience
    /// pipeline (<see cref="RedisPipeline"/>) both API and worker use, timed by
    /// <see cref="TimeProvider.System"/> unless another <see cref="TimeProvider"/> is registered.
    /// </summary>
    public static IServiceCollection AddJobStore(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(new RedisKeys());
        services.TryAddSingleton<JobStore>();
        services.TryAddSingleton<EvictionPolicyGuard>();
        services.AddRedisPipeline();
        return services;
    }
}

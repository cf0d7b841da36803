using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Orchestrator.Jobs;

/// <summary>Registers the job store.</summary>
public static class JobStoreServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="JobStore"/> (singleton) over the registered <c>IConnectionMultiplexer</c>, the
    /// <see cref="EvictionPolicyGuard"/> each service runs at start (with the partition check), the
    /// keys of <c>Jobs:Partitions</c> partitions (<see cref="JobsOptions"/>), and the <c>redis</c> resilience
    /// pipeline (<see cref="RedisPipeline"/>) both API and worker use, timed by
    /// <see cref="TimeProvider.System"/> unless another <see cref="TimeProvider"/> is registered.
    /// </summary>
    public static IServiceCollection AddJobStore(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddJobsOptions();
        services.TryAddSingleton(static sp => new RedisKeys(partitions: sp.GetRequiredService<IOptions<JobsOptions>>().Value.Partitions));
        services.TryAddSingleton<JobStore>();
        services.TryAddSingleton<EvictionPolicyGuard>();
        services.AddRedisPipeline();
        return services;
    }
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Orchestrator.Worker;
using Orchestrator.Worker.Processing;
using Orchestrator.Worker.Resilience;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// The worker's parts (store, <c>redis</c> pipeline, loop supervisor, outcome writer, lease keeper)
/// composed as the worker's <c>Program.cs</c> composes them, over a test's connection.
/// </summary>
internal static class WorkerParts
{
    public static ServiceProvider Create(IConnectionMultiplexer redis, ILoggerProvider? logs = null, TimeProvider? time = null)
    {
        var services = new ServiceCollection();
        services.AddLogging(builder =>
        {
            if (logs is not null)
            {
                builder.AddProvider(logs);
            }
        });
        services.AddMetrics();
        services.AddSingleton(time ?? TimeProvider.System);
        services.AddSingleton(redis);
        services.AddJobStore();
        services.AddOptions<WorkerOptions>();
        services.AddSingleton<OrchestratorMetrics>();
        services.AddSingleton<LoopSupervisor>();
        services.AddSingleton<OutcomeWriter>();
        services.AddSingleton<LeaseKeeper>();
        return services.BuildServiceProvider();
    }
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Orchestrator.Llm;

/// <summary>Registers the <c>Llm</c> section and the <see cref="ModelCatalog"/>.</summary>
public static class LlmServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="LlmOptions"/> from <c>Llm</c>, validated at start, and adds the <see cref="ModelCatalog"/>.
    /// <c>Simulator:Model</c> is bound too, in every service that has a catalogue: with no provider
    /// configured it is the default model, and the API (<c>GET /models</c>, a job submitted without
    /// a model) must name the one the worker's in-process simulator answers as.
    /// </summary>
    public static IServiceCollection AddModelCatalog(this IServiceCollection services)
    {
        services.AddOptions<LlmOptions>().BindConfiguration(LlmOptions.Section).ValidateOnStart();
        services.AddOptions<Simulation.SimulatorOptions>().BindConfiguration(Simulation.SimulatorOptions.Section);
        services.AddSingleton<IValidateOptions<LlmOptions>, LlmOptionsValidator>();
        services.AddSingleton<ModelCatalog>();
        return services;
    }
}

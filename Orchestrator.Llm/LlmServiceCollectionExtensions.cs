using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Orchestrator.Llm;

/// <summary>Registers the <c>Llm</c> section and the <see cref="ModelCatalog"/>.</summary>
public static class LlmServiceCollectionExtensions
{
    /// <summary>Binds <see cref="LlmOptions"/> from <c>Llm</c>, validated at start, and adds the <see cref="ModelCatalog"/>.</summary>
    public static IServiceCollection AddModelCatalog(this IServiceCollection services)
    {
        services.AddOptions<LlmOptions>().BindConfiguration(LlmOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LlmOptions>, LlmOptionsValidator>();
        services.AddSingleton<ModelCatalog>();
        return services;
    }
}

using Microsoft.Extensions.Configuration;

namespace Orchestrator.AppHost;

/// <summary>How the API and the worker get their <c>Llm</c> section.</summary>
internal static class LlmProviderExtensions
{
    /// <summary>The provider name the simulator is configured under when no provider is.</summary>
    public const string SimulatorProvider = "simulator";

    /// <summary>
    /// Whether <c>Llm:Providers</c> names a provider to call in place of the simulator. An entry
    /// <see cref="SimulatorProvider"/> without an endpoint is not one: it sets the simulator's own
    /// provider entry (<c>Llm__Providers__simulator__RequestsPerMinute=60</c>, to see the limits at
    /// work), which replaced the simulator with a provider that has no endpoint: API and worker
    /// refused to start, and a client's requests to the API's port hung.
    /// </summary>
    public static bool ConfiguresProviders(this IConfiguration configuration) =>
        configuration.GetSection("Llm:Providers").GetChildren().Any(provider =>
            !string.Equals(provider.Key, SimulatorProvider, StringComparison.OrdinalIgnoreCase) || provider["Endpoint"] is not null);

    /// <summary>
    /// Hands the AppHost's <c>Llm</c> section on, except API keys: each provider's key comes from the
    /// secret parameter <c>llm-{provider}-api-key</c> (<c>Parameters:llm-openai-api-key</c> in user
    /// secrets), so it is never in a settings file or a log.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithLlmProviders(this IResourceBuilder<ProjectResource> builder)
    {
        var app = builder.ApplicationBuilder;
        var providers = app.Configuration.GetSection("Llm:Providers").GetChildren().ToList();
        builder.WithConfigurationSection("Llm", except: [.. providers.Select(p => $"Providers:{p.Key}:ApiKey")]);
        foreach (var provider in providers.Where(p => string.Equals(p["Kind"], "openai", StringComparison.OrdinalIgnoreCase)))
        {
            var name = KeyParameter(provider.Key);
            IResourceBuilder<ParameterResource> key;
            if (app.Resources.OfType<ParameterResource>().FirstOrDefault(r => r.Name == name) is { } existing)
            {
                key = app.CreateResourceBuilder(existing);
            }
            else
            {
                key = app.AddParameter(name, secret: true);
                // Unset, Aspire holds the API and the workers back until it is given on the dashboard,
                // and the console said nothing: the services simply never started.
                if (string.IsNullOrEmpty(app.Configuration[$"Parameters:{name}"]))
                {
                    Console.Error.WriteLine(UnsetKeyLine(provider.Key));
                }
            }

            builder.WithEnvironment($"Llm__Providers__{provider.Key}__ApiKey", key);
        }

        return builder;
    }

    /// <summary>The secret parameter that holds provider <paramref name="provider"/>'s API key.</summary>
    public static string KeyParameter(string provider) => $"llm-{provider.ToLowerInvariant()}-api-key";

    /// <summary>What the console says of a provider whose key parameter has no value.</summary>
    public static string UnsetKeyLine(string provider) =>
        $"Parameter {KeyParameter(provider)} (provider '{provider}''s API key) has no value: the API and the workers wait for it. " +
        $"Set Parameters:{KeyParameter(provider)} in the AppHost's user secrets (any value for a local server), or give it on the dashboard.";

    /// <summary>Points the service's one provider at the simulator, serving <c>Simulator:Model</c>.</summary>
    public static IResourceBuilder<ProjectResource> WithSimulatorProvider(
        this IResourceBuilder<ProjectResource> builder, IResourceBuilder<ProjectResource> simulator)
    {
        var model = builder.ApplicationBuilder.Configuration["Simulator:Model"] is { Length: > 0 } configured ? configured : "simulated-llm";
        return builder
            .WithConfigurationSection("Llm")
            .WithEnvironment($"Llm__Providers__{SimulatorProvider}__Kind", "openai")
            .WithEnvironment($"Llm__Providers__{SimulatorProvider}__Endpoint", ReferenceExpression.Create($"{simulator.GetEndpoint("http")}/v1"))
            .WithEnvironment($"Llm__Providers__{SimulatorProvider}__Models__0__Name", model)
            .WithEnvironment("Llm__DefaultModel", model)
            .WaitFor(simulator);
    }
}

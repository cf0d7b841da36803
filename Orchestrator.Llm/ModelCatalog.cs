using Microsoft.Extensions.Options;

namespace Orchestrator.Llm;

/// <summary>A model as served: its provider (the deployment whose limits it shares) and its settings.</summary>
public sealed record ServedModel(string Name, string ProviderName, ProviderOptions Provider, ModelOptions Settings)
{
    /// <summary>The cost of a call, from the model's prices per million tokens.</summary>
    public decimal CostOf(long inputTokens, long outputTokens) =>
        ((inputTokens * Settings.InputCostPerMillion) + (outputTokens * Settings.OutputCostPerMillion)) / 1_000_000m;
}

/// <summary>
/// Which models the configuration serves, and by which provider. Where a model name is checked
/// (<c>POST /jobs</c>) and where it is resolved to a provider (the worker), so the two cannot disagree.
/// </summary>
public sealed class ModelCatalog
{
    /// <summary>The provider name used when no provider is configured.</summary>
    public const string ImplicitProviderName = "simulated";

    /// <summary>The default model when no provider is configured (the simulator's name for itself).</summary>
    public const string ImplicitDefaultModel = "simulated-llm";

    private readonly Dictionary<string, ServedModel> _models = new(StringComparer.Ordinal);
    private readonly ProviderOptions? _implicitProvider;

    /// <summary>Builds the catalogue from validated options.</summary>
    /// <param name="options">The <c>Llm</c> section.</param>
    /// <param name="simulator">
    /// The <c>Simulator</c> section: with no provider configured and no <c>Llm:DefaultModel</c>, a job
    /// naming no model gets <c>Simulator:Model</c>, as before providers existed.
    /// </param>
    public ModelCatalog(IOptions<LlmOptions> options, IOptions<Simulation.SimulatorOptions>? simulator = null)
    {
        var llm = options.Value;
        foreach (var (providerName, provider) in llm.Providers)
        {
            foreach (var model in provider.Models)
            {
                _models[model.Name] = new ServedModel(model.Name, providerName, provider, model);
            }
        }

        if (llm.Providers.Count == 0)
        {
            // Today's behaviour: the in-process simulator answers any model name.
            _implicitProvider = new ProviderOptions { Kind = ProviderKinds.Simulated };
            DefaultModel = llm.DefaultModel ?? (simulator?.Value.Model is { Length: > 0 } simulated ? simulated : ImplicitDefaultModel);
        }
        else
        {
            DefaultModel = llm.DefaultModel ?? llm.Providers.First().Value.Models[0].Name;
        }

        Models = [.. _models.Values.OrderBy(m => m.ProviderName, StringComparer.Ordinal).ThenBy(m => m.Name, StringComparer.Ordinal)];
    }

    /// <summary>The model a job gets when it names none.</summary>
    public string DefaultModel { get; }

    /// <summary>Whether any model name is accepted (no provider configured: the in-process simulator answers all).</summary>
    public bool ServesAnyModel => _implicitProvider is not null;

    /// <summary>The models configured, by provider then name (empty when <see cref="ServesAnyModel"/>).</summary>
    public IReadOnlyList<ServedModel> Models { get; }

    /// <summary>The model named <paramref name="name"/> (the default when null), or null when it is not served.</summary>
    public ServedModel? Find(string? name)
    {
        name ??= DefaultModel;
        if (_models.TryGetValue(name, out var model))
        {
            return model;
        }

        return _implicitProvider is null ? null : new ServedModel(name, ImplicitProviderName, _implicitProvider, new ModelOptions { Name = name });
    }
}

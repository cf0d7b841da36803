using Orchestrator.Jobs;
using Orchestrator.Llm;

namespace Orchestrator.Api.Jobs;

/// <summary>A model the configuration serves, as <c>GET /models</c> lists it.</summary>
/// <param name="ContextWindow">Prompt plus completion tokens; null when not configured.</param>
/// <param name="InputCostPerMillion">Price of a million prompt tokens.</param>
/// <param name="OutputCostPerMillion">Price of a million completion tokens.</param>
/// <param name="RequestsPerMinute">The provider's requests-per-minute limit; null when unknown.</param>
/// <param name="TokensPerMinute">The provider's tokens-per-minute limit; null when unknown.</param>
/// <param name="MaxConcurrency">Calls in flight at once across the fleet; null when unbounded.</param>
public sealed record ModelResource(
    string Name,
    string Provider,
    string Kind,
    bool IsDefault,
    int? ContextWindow,
    decimal InputCostPerMillion,
    decimal OutputCostPerMillion,
    int? RequestsPerMinute,
    int? TokensPerMinute,
    int? MaxConcurrency);

/// <summary>The answer of <c>GET /models</c>.</summary>
/// <param name="AnyModel">True when no provider is configured: the in-process simulator answers any model name.</param>
public sealed record ModelListResource(IReadOnlyList<ModelResource> Items, string DefaultModel, bool AnyModel);

/// <summary><c>GET /models</c>, and the check that a submitted job names only served models.</summary>
public static class ModelsApi
{
    /// <summary>Maps <c>GET /models</c>.</summary>
    public static IEndpointRouteBuilder MapModelsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/models", List).AlsoHead()
            .WithTags("Models")
            .WithName("ListModels")
            .WithSummary("The models this deployment serves (Llm:Providers), with their provider, context window, prices and limits.")
            // Any valid key (tenant or admin) may list them; the fallback policy answers 401 without one.
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            // Api:ReadsPerSecondPerTenant.
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status431RequestHeaderFieldsTooLarge);
        return app;
    }

    internal static ModelListResource List(ModelCatalog catalog) => new(
        [.. catalog.Models.Select(m => new ModelResource(
            m.Name,
            m.ProviderName,
            m.Provider.Kind,
            m.Name == catalog.DefaultModel,
            m.Settings.ContextWindow,
            m.Settings.InputCostPerMillion,
            m.Settings.OutputCostPerMillion,
            m.Provider.RequestsPerMinute,
            m.Provider.TokensPerMinute,
            m.Provider.MaxConcurrency))],
        catalog.DefaultModel,
        catalog.ServesAnyModel);

    /// <summary>
    /// The validation errors for a request naming a model the configuration does not serve (a job
    /// must never reach a provider with a name nobody priced or limited), or null when all are served.
    /// </summary>
    internal static Dictionary<string, string[]>? Unserved(JobRequest request, ModelCatalog catalog)
    {
        Dictionary<string, string[]>? errors = null;
        if (request.Model is { } model && catalog.Find(model) is null)
        {
            errors = new(StringComparer.Ordinal)
            {
                ["model"] = [$"The model '{model}' is not served here; GET /models lists the models you can use."],
            };
        }

        var unknown = request.FallbackModels?.Where(m => catalog.Find(m) is null).ToList();
        if (unknown is { Count: > 0 })
        {
            errors ??= new(StringComparer.Ordinal);
            errors["fallbackModels"] = [$"fallbackModels names models not served here ({string.Join(", ", unknown.Select(m => $"'{m}'"))}); GET /models lists the models you can use."];
        }

        return errors;
    }
}

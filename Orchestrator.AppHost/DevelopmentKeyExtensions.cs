using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Orchestrator.AppHost;

/// <summary>Local runs: anonymous access on, and a development tenant with a generated key.</summary>
internal static class DevelopmentKeyExtensions
{
    /// <summary>The tenant the development key belongs to.</summary>
    public const string Tenant = "dev";

    /// <summary>
    /// In run mode (<c>dotnet run</c>, the dashboard, tests) turns on <c>Auth:AllowAnonymous</c>, so a
    /// first <c>curl</c> needs no key, and gives tenant <c>dev</c> a key: the secret parameter
    /// <c>dev-api-key</c>, generated once and kept in the AppHost's user secrets
    /// (<c>Parameters:dev-api-key</c> sets it). The dashboard shows it (the parameter, and the API's
    /// <c>Tenants__dev__ApiKeys__0</c>), and the AppHost prints it at start. A published app gets
    /// neither: its tenants and keys come from its own configuration.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithDevelopmentAccess(this IResourceBuilder<ProjectResource> api)
    {
        var builder = api.ApplicationBuilder;
        if (!builder.ExecutionContext.IsRunMode)
        {
            return api;
        }

        var key = builder.AddParameter("dev-api-key", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true);
        builder.Eventing.Subscribe<BeforeStartEvent>(async (e, cancellationToken) =>
        {
            var value = await key.Resource.GetValueAsync(cancellationToken);
            e.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Orchestrator.AppHost").LogInformation(
                "Development API key of tenant '{Tenant}': {DevApiKey} (curl -H \"Authorization: Bearer $KEY\" …; anonymous requests act as tenant 'default')",
                Tenant, value);
        });

        // Anonymous: loopback names only, so that a page elsewhere cannot rebind its name to the local API.
        return api
            .WithEnvironment("Auth__AllowAnonymous", "true")
            .WithEnvironment("AllowedHosts", "localhost;127.0.0.1;[::1]")
            .WithEnvironment($"Tenants__{Tenant}__ApiKeys__0", key);
    }
}

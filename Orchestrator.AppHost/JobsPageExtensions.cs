using Microsoft.Extensions.Configuration;

namespace Orchestrator.AppHost;

/// <summary>The jobs page (<c>Orchestrator.Web</c>) beside the dashboard.</summary>
internal static class JobsPageExtensions
{
    /// <summary>
    /// Adds the jobs page as resource <c>web</c>: it calls <paramref name="api"/> through service
    /// discovery with an admin key made for it (the secret parameter <c>web-api-key</c>, generated once
    /// and kept in user secrets, added to the API's <c>Auth:AdminKeys</c>), links a job to its trace
    /// in this dashboard, and its address shows on the API's resource as "Jobs page". The
    /// <c>Web</c> section is handed on (<c>Web:RefreshInterval</c>, …).
    /// </summary>
    public static IResourceBuilder<ProjectResource> AddJobsPage(this IDistributedApplicationBuilder builder, IResourceBuilder<ProjectResource> api)
    {
        var key = builder.AddParameter("web-api-key", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true);
        api.WithEnvironment("Auth__AdminKeys__web", key);

        var web = builder.AddProject<Projects.Orchestrator_Web>("web")
            .WithReference(api).WaitFor(api)
            .WithHttpEndpointPort(builder.Configuration.GetValue("Web:Port", defaultValue: 3300))
            .WithConfigurationSection("Web", except: ["Port"])
            .WithEnvironment("Web__ApiKey", key)
            .WithHttpHealthCheck("/health");

        // The dashboard's own address (the AppHost's ASPNETCORE_URLS), for the page's trace links.
        if (builder.Configuration["ASPNETCORE_URLS"]?.Split(';', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() is { } dashboard)
        {
            web.WithEnvironment("Web__DashboardUrl", dashboard);
        }

        api.WithUrl(ReferenceExpression.Create($"{web.GetEndpoint("http")}"), "Jobs page");
        return web;
    }
}

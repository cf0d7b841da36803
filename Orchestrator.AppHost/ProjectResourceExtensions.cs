using Microsoft.Extensions.Configuration;

namespace Orchestrator.AppHost;

/// <summary>Small helpers that keep <c>Program.cs</c> reading as a graph.</summary>
internal static class ProjectResourceExtensions
{
    /// <summary>
    /// Hands every key of the AppHost's configuration section <paramref name="section"/> to the
    /// service as an environment variable (<c>Simulator:FailureRate</c> becomes
    /// <c>Simulator__FailureRate</c>), so <c>Simulator__FailureRate=1 dotnet run --project
    /// Orchestrator.AppHost</c> changes the worker. Keys named in <paramref name="except"/> are
    /// AppHost-only settings and are not passed on.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithConfigurationSection(
        this IResourceBuilder<ProjectResource> builder, string section, params string[] except)
    {
        var configuration = builder.ApplicationBuilder.Configuration.GetSection(section);
        var excluded = except.Select(key => $"{section}:{key}").ToHashSet(StringComparer.OrdinalIgnoreCase);

        return builder.WithEnvironment(context =>
        {
            foreach (var (key, value) in configuration.AsEnumerable())
            {
                if (value is not null && !excluded.Contains(key))
                {
                    context.EnvironmentVariables[key.Replace(":", "__", StringComparison.Ordinal)] = value;
                }
            }
        });
    }

    /// <summary>
    /// Sets the port the AppHost publishes the service's <c>http</c> endpoint on; <c>0</c> lets
    /// the orchestrator pick a free one (tests, replicas, and anything that must not collide with
    /// a developer's running AppHost).
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithHttpEndpointPort(
        this IResourceBuilder<ProjectResource> builder, int port)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        return builder.WithEndpoint("http", endpoint => endpoint.Port = port == 0 ? null : port);
    }
}

using System.ComponentModel;
using System.Diagnostics;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Configuration;

namespace Orchestrator.AppHost;

/// <summary>
/// Chooses where Redis comes from, by the AppHost setting <c>Redis:Mode</c>:
/// <list type="bullet">
/// <item><c>auto</c> (default): a container when <c>docker info</c> answers within a few seconds,
/// otherwise a local <c>redis-server</c> process.</item>
/// <item><c>container</c>: Aspire's Redis container (needs Docker or Podman).</item>
/// <item><c>local</c>: <c>redis-server</c> from PATH, append-only file in <c>Redis:DataPath</c>
/// (default <c>.data/redis</c> at the repository root, git-ignored).</item>
/// <item><c>connection-string</c>: an existing Redis named by <c>ConnectionStrings:redis</c>.</item>
/// </list>
/// </summary>
internal static class RedisSourceExtensions
{
    private static readonly TimeSpan DockerProbeTimeout = TimeSpan.FromSeconds(5);

    public static IResourceBuilder<IResourceWithConnectionString> AddOrchestratorRedis(
        this IDistributedApplicationBuilder builder, [ResourceName] string name)
    {
        var mode = builder.Configuration["Redis:Mode"] is { Length: > 0 } configured ? configured : "auto";
        if (string.Equals(mode, "auto", StringComparison.OrdinalIgnoreCase))
        {
            mode = ContainerRuntimeAnswers() ? "container" : "local";
        }

        return mode.ToUpperInvariant() switch
        {
            "CONTAINER" => builder.AddRedis(name).WithDataVolume(),
            "LOCAL" => builder.AddLocalRedis(name, DataPath(builder), builder.Configuration.GetValue<int?>("Redis:Port")),
            "CONNECTION-STRING" => builder.AddConnectionString(name),
            _ => throw new DistributedApplicationException(
                $"Redis:Mode '{mode}' is not known; use auto, container, local or connection-string."),
        };
    }

    private static string DataPath(IDistributedApplicationBuilder builder)
    {
        var configured = builder.Configuration["Redis:DataPath"];
        return string.IsNullOrWhiteSpace(configured)
            ? Path.GetFullPath(Path.Combine(builder.AppHostDirectory, "..", ".data", "redis"))
            : Path.GetFullPath(configured, builder.AppHostDirectory);
    }

    private static bool ContainerRuntimeAnswers()
    {
        try
        {
            using var docker = Process.Start(new ProcessStartInfo("docker", "info")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (docker is null)
            {
                return false;
            }

            // Drain the pipes so a chatty 'docker info' cannot block on a full buffer.
            _ = docker.StandardOutput.ReadToEndAsync();
            _ = docker.StandardError.ReadToEndAsync();
            if (!docker.WaitForExit(DockerProbeTimeout))
            {
                docker.Kill(entireProcessTree: true);
                return false;
            }

            return docker.ExitCode == 0;
        }
        catch (Win32Exception)
        {
            return false; // docker is not installed
        }
    }
}

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
/// <item><c>container</c>: Aspire's Redis container (needs Docker or Podman), append-only file
/// in a data volume.</item>
/// <item><c>local</c>: <c>redis-server</c> from PATH, append-only file in <c>Redis:DataPath</c>
/// (default <c>.data/redis</c> at the repository root, git-ignored).</item>
/// <item><c>cluster</c>: a local Redis Cluster of 3 masters and 3 replicas from PATH, on ports
/// <c>Redis:Port</c> (default 7000) to +5, data in <c>Redis:DataPath</c>/cluster
/// (<see cref="LocalRedisClusterResourceBuilderExtensions.AddLocalRedisCluster"/>).</item>
/// <item><c>connection-string</c>: an existing Redis named by <c>ConnectionStrings:redis</c>; listing
/// several nodes of a Redis Cluster (<c>host1:port,host2:port,…</c>) uses that cluster.</item>
/// </list>
/// The Redis the AppHost starts (container or local) keeps no RDB snapshots and runs with
/// <c>maxmemory</c> = <c>Redis:MaxMemory</c> (default <c>1gb</c>) and <c>noeviction</c>
/// (<see cref="RedisServerArgs"/>); an existing Redis is configured by its operator.
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

        var maxMemory = RedisServerArgs.MaxMemory(builder.Configuration["Redis:MaxMemory"]);
        return mode.ToUpperInvariant() switch
        {
            "CONTAINER" => builder.AddRedis(name).WithAppendOnlyDataVolume(maxMemory),
            "LOCAL" => builder.AddLocalRedis(name, DataPath(builder), builder.Configuration.GetValue<int?>("Redis:Port"), maxMemory),
            "CLUSTER" => builder.AddLocalRedisCluster(name, Path.Combine(DataPath(builder), "cluster"),
                builder.Configuration.GetValue("Redis:Port", defaultValue: 7000), maxMemory,
                builder.Configuration.GetValue("Redis:NodeTimeout", defaultValue: TimeSpan.FromSeconds(5)),
                partitions: builder.Configuration.GetValue("Jobs:Partitions", defaultValue: 1)),
            "CONNECTION-STRING" => builder.AddConnectionString(name),
            _ => throw new DistributedApplicationException(
                $"Redis:Mode '{mode}' is not known; use auto, container, local, cluster or connection-string."),
        };
    }

    /// <summary>
    /// A data volume holding an append-only file, instead of the RDB snapshots Aspire's
    /// <c>WithDataVolume</c> configures (<c>--save 60 1</c>: up to a minute of accepted jobs lost on
    /// a crash), with the memory bound of <see cref="RedisServerArgs.Durability"/>. These arguments
    /// follow Aspire's: Redis applies options in order, and a later <c>--save ''</c> clears every
    /// snapshot point an earlier <c>--save</c> set.
    /// </summary>
    private static IResourceBuilder<RedisResource> WithAppendOnlyDataVolume(this IResourceBuilder<RedisResource> redis, string maxMemory) =>
        redis.WithDataVolume().WithArgs(context =>
        {
            foreach (var arg in RedisServerArgs.Durability(maxMemory, emptyArgument: "''"))
            {
                context.Args.Add(arg);
            }
        });

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

using System.Net;
using System.Net.Sockets;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;

namespace Orchestrator.AppHost;

/// <summary>
/// Redis run as a local <c>redis-server</c> process instead of a container, for machines with no
/// container runtime. To its consumers it looks exactly like Aspire's Redis container:
/// <c>.WithReference(redis)</c> injects <c>ConnectionStrings__redis</c> and <c>.WaitFor(redis)</c>
/// waits until Redis answers PING.
/// </summary>
public sealed class LocalRedisResource(string name, string workingDirectory)
    : ExecutableResource(name, "redis-server", workingDirectory), IResourceWithConnectionString
{
    internal const string PrimaryEndpointName = "tcp";

    private EndpointReference? _primaryEndpoint;

    /// <summary>The endpoint <c>redis-server</c> listens on (loopback only, no proxy in front).</summary>
    public EndpointReference PrimaryEndpoint => _primaryEndpoint ??= new(this, PrimaryEndpointName);

    /// <summary>The folder holding the append-only file; it outlives the AppHost.</summary>
    public string DataPath => WorkingDirectory;

    /// <inheritdoc />
    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"localhost:{PrimaryEndpoint.Property(EndpointProperty.Port)}");
}

/// <summary>Adds a <see cref="LocalRedisResource"/> to the application model.</summary>
public static class LocalRedisResourceBuilderExtensions
{
    /// <summary>
    /// Runs <c>redis-server</c> from PATH on a loopback port with append-only persistence in
    /// <paramref name="dataPath"/> (<c>appendfsync everysec</c>: at most about a second of
    /// acknowledged writes is lost if the machine dies; none on a clean stop), no RDB snapshots,
    /// and at most <paramref name="maxMemory"/> of data with <c>maxmemory-policy noeviction</c>.
    /// </summary>
    /// <param name="builder">The application builder.</param>
    /// <param name="name">The resource name, also the connection string name.</param>
    /// <param name="dataPath">The folder for the append-only file; created if missing.</param>
    /// <param name="port">
    /// The port to listen on; <see langword="null"/> picks a free loopback port at start-up.
    /// </param>
    /// <param name="maxMemory">Redis's <c>maxmemory</c> (<c>1gb</c>, <c>512mb</c>, bytes).</param>
    /// <exception cref="DistributedApplicationException"><c>redis-server</c> is not on PATH.</exception>
    public static IResourceBuilder<LocalRedisResource> AddLocalRedis(
        this IDistributedApplicationBuilder builder, [ResourceName] string name, string dataPath, int? port = null,
        string maxMemory = RedisServerArgs.DefaultMaxMemory)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentException.ThrowIfNullOrEmpty(dataPath);

        if (FindOnPath("redis-server") is null)
        {
            throw new DistributedApplicationException(
                "Redis:Mode is 'local' but 'redis-server' was not found on PATH. Install it " +
                "('sudo apt-get install redis-server' on Debian/Ubuntu), or run a container runtime " +
                "(Docker or Podman) and use Redis:Mode=container, or point at an existing Redis with " +
                "Redis:Mode=connection-string and ConnectionStrings:redis=host:port.");
        }

        Directory.CreateDirectory(dataPath);
        var redis = new LocalRedisResource(name, dataPath);

        string? connectionString = null;
        builder.Eventing.Subscribe<ConnectionStringAvailableEvent>(redis, async (_, ct) =>
        {
            connectionString = await redis.ConnectionStringExpression.GetValueAsync(ct).ConfigureAwait(false)
                ?? throw new DistributedApplicationException(
                    $"ConnectionStringAvailableEvent was published for '{redis.Name}' but the connection string was null.");
        });

        // The same check Aspire's AddRedis registers, so WaitFor(redis) waits for PING, not for the process.
        var healthCheckKey = $"{name}_check";
        builder.Services.AddHealthChecks().AddRedis(
            _ => connectionString ?? throw new InvalidOperationException("Connection string is unavailable"),
            name: healthCheckKey);

        // DCP refuses an endpoint without a proxy unless its port is known up front, so a free
        // loopback port is taken here. No proxy: redis-server binds the port itself, and an outage
        // looks like an outage (connection refused) to clients.
        var listenPort = port ?? FreeLoopbackPort();

        return builder.AddResource(redis)
            .WithEndpoint(port: listenPort, targetPort: listenPort, scheme: "tcp", name: LocalRedisResource.PrimaryEndpointName, isProxied: false)
            .WithArgs(context =>
            {
                context.Args.Add("--port");
                context.Args.Add(redis.PrimaryEndpoint.Property(EndpointProperty.TargetPort));
                context.Args.Add("--bind");
                context.Args.Add("127.0.0.1");
                context.Args.Add("-::1"); // '-': skipped where IPv6 is unavailable; 'localhost' may resolve to ::1 first
                context.Args.Add("--daemonize");
                context.Args.Add("no");
                context.Args.Add("--dir");
                context.Args.Add(redis.DataPath);
                foreach (var arg in RedisServerArgs.Durability(maxMemory, emptyArgument: ""))
                {
                    context.Args.Add(arg);
                }
            })
            .WithHealthCheck(healthCheckKey)
            .WithIconName("Database");
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static string? FindOnPath(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, command))
            .FirstOrDefault(File.Exists);
}

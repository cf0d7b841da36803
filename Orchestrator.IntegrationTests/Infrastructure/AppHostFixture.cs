using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// The real AppHost (Redis, API, Worker as processes) for the tests of the <c>apphost</c>
/// collection, started once and shared. Redis runs as a local <c>redis-server</c>
/// (<c>Redis:Mode=local</c>, explicit so CI does not depend on container detection) with its
/// append-only file in a fresh temporary folder, and the API on a free port (<c>Api:Port=0</c>),
/// so a developer's running AppHost on port 3000 does not collide with the tests.
/// </summary>
/// <remarks>
/// For other AppHost settings, derive a fixture and pass them on:
/// <c>public sealed class FailingAppHostFixture() : AppHostFixture("Simulator:FailureRate=1");</c>
/// </remarks>
public class AppHostFixture : IAsyncLifetime
{
    /// <summary>The bound on starting the AppHost and on every resource becoming healthy (the 2 cores are often busy).</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(2);

    /// <summary>The bound on stopping the AppHost.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromMinutes(1);

    private readonly string[] _settings;
    private DistributedApplication? _app;

    /// <summary>Starts the AppHost with the test defaults only.</summary>
    public AppHostFixture()
        : this([])
    {
    }

    /// <summary>Starts the AppHost with extra settings, each <c>Section:Key=value</c>.</summary>
    protected AppHostFixture(params string[] settings) => _settings = settings;

    /// <summary>The running application.</summary>
    public DistributedApplication App => _app ?? throw new InvalidOperationException("The fixture is not initialized.");

    /// <summary>The temporary folder holding Redis's append-only file; deleted on dispose.</summary>
    public string RedisDataPath { get; } = Directory.CreateTempSubdirectory("orchestrator-apphost-redis-").FullName;

    /// <summary>An <see cref="HttpClient"/> whose base address is the resource's <c>http</c> endpoint.</summary>
    public HttpClient CreateHttpClient(string resourceName = "api", string endpointName = "http") =>
        App.CreateHttpClient(resourceName, endpointName);

    /// <summary>The connection string the services were given for Redis.</summary>
    public async Task<string> GetRedisConnectionStringAsync(CancellationToken cancellationToken = default) =>
        await App.GetConnectionStringAsync("redis", cancellationToken)
            ?? throw new InvalidOperationException("Redis has no connection string.");

    /// <inheritdoc />
    public async ValueTask InitializeAsync()
    {
        using var timeout = new CancellationTokenSource(StartTimeout);
        var cancellationToken = timeout.Token;

        string[] args =
        [
            "--Redis:Mode=local",
            $"--Redis:DataPath={RedisDataPath}",
            "--Api:Port=0",
            "--Web:Port=0",
            .. _settings.Select(setting => setting.StartsWith("--", StringComparison.Ordinal) ? setting : "--" + setting),
        ];
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Orchestrator_AppHost>(args, cancellationToken);

        // Keep the test log readable: the AppHost's and the resources' console output only from
        // Warning up (a service's stderr still shows, so a crash at start is explained).
        builder.Services.AddLogging(logging => logging
            .AddFilter("Aspire.Hosting", LogLevel.Warning)
            .AddFilter("Aspire.Hosting.Dcp", LogLevel.Error)
            .AddFilter("System.Net.Http.HttpClient", LogLevel.Warning)
            .AddFilter($"{builder.Environment.ApplicationName}.Resources", LogLevel.Warning));

        // The testing builder points every service at an OTLP collector (localhost:4317) that does
        // not exist here; the exporter's final flush then retries for ~15 s on every shutdown.
        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            builder.CreateResourceBuilder(project).WithEnvironment(context =>
                context.EnvironmentVariables.Remove("OTEL_EXPORTER_OTLP_ENDPOINT"));
        }

        _app = await builder.BuildAsync(cancellationToken);
        try
        {
            await _app.StartAsync(cancellationToken);
            foreach (var resource in Services)
            {
                await _app.ResourceNotifications.WaitForResourceHealthyAsync(resource, cancellationToken);
            }
        }
        catch (OperationCanceledException e) when (timeout.IsCancellationRequested)
        {
            // A bare "operation was canceled" said nothing of which service was late, or why.
            throw new TimeoutException($"The AppHost was not up within {StartTimeout.TotalSeconds:0} s: {DescribeServices(_app)}.", e);
        }
    }

    private static readonly string[] Services = ["redis", "api", "worker", "web"];

    private static string DescribeServices(DistributedApplication app) => string.Join("; ", Services.Select(name =>
        app.ResourceNotifications.TryGetCurrentState(name, out var current)
            ? $"{name} {current.Snapshot.State?.Text ?? "not started"}, health {current.Snapshot.HealthStatus?.ToString() ?? "unknown"}"
            : $"{name} unknown"));

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            using var timeout = new CancellationTokenSource(StopTimeout);
            try
            {
                await _app.StopAsync(timeout.Token);
            }
            finally
            {
                await _app.DisposeAsync();
            }
        }

        try
        {
            Directory.Delete(RedisDataPath, recursive: true);
        }
        catch (IOException)
        {
            // A temp folder left behind is harmless.
        }

        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// Tests against the real AppHost. They run beside one other collection (two at a time on this
/// machine): the tree is busy while it starts, then its tests send a few jobs each.
/// </summary>
[CollectionDefinition("apphost")]
public sealed class AppHostCollection : ICollectionFixture<AppHostFixture>;

using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Adds common Aspire services: service discovery, resilience, health checks, and OpenTelemetry.
/// Kept close to Aspire's servicedefaults template; the differences are the Orchestrator
/// <see cref="Orchestrator.ServiceDefaults.OrchestratorTelemetry"/> names and health endpoints
/// mapped in every environment.
/// </summary>
public static class Extensions
{
    private const string HealthEndpointPath = "/health";
    private const string AlivenessEndpointPath = "/alive";

    // The console's time of a line: UTC, milliseconds, as every time the API writes.
    private const string UtcTimestamp = "yyyy-MM-ddTHH:mm:ss.fffZ";

    /// <summary>
    /// Adds OpenTelemetry (logs, metrics, traces; OTLP export when
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set), the default health checks, service discovery,
    /// and the standard resilience handler on every <see cref="HttpClient"/>; checks
    /// <c>shutdownTimeoutSeconds</c> at start (<see cref="ShutdownTimeoutSetting"/>).
    /// </summary>
    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();

        // The console dates each line in UTC with milliseconds wherever the service is started from:
        // an appsettings.json is read from the content root only, and the jobs page has none. A
        // Logging:Console:FormatterOptions:TimestampFormat configured still wins (bound before this runs).
        // With no formatter named, the console logger reads its old options instead of the formatter's.
        builder.Services.Configure<ConsoleLoggerOptions>(options => options.FormatterName ??= ConsoleFormatterNames.Simple);
        builder.Services.Configure<SimpleConsoleFormatterOptions>(options =>
        {
            if (options.TimestampFormat is null)
            {
                options.TimestampFormat = UtcTimestamp + " ";
                options.UseUtcTimestamp = true;
            }
        });
        // The JSON formatter binds the same FormatterOptions: the simple format's trailing space (it
        // separates the time from the level) ended up inside the JSON value, "…945Z ", which a strict
        // RFC 3339 parser refuses.
        builder.Services.Configure<JsonConsoleFormatterOptions>(options =>
        {
            if (options.TimestampFormat is null)
            {
                options.UseUtcTimestamp = true;
            }

            options.TimestampFormat = (options.TimestampFormat ?? UtcTimestamp).TrimEnd();
            // JSON lines are read by machines: with the scopes they carry the trace and span ids (the
            // host's activity tracking) and the job's tenant, as OTLP records do. Configured, it stands.
            if (builder.Configuration["Logging:Console:FormatterOptions:IncludeScopes"] is null)
            {
                options.IncludeScopes = true;
            }
        });

        // Kestrel holds no more connections than the open-file limit allows (ConnectionLimit), or
        // Kestrel:Limits:MaxConcurrentConnections when configured: Kestrel itself reads only its
        // endpoints and certificates from configuration, and ignored the key.
        builder.Services.AddConnectionLimitCheck();
        builder.Services.PostConfigure<KestrelServerOptions>(options =>
            options.Limits.MaxConcurrentConnections ??= ConnectionLimit.Configured(builder.Configuration) ?? ConnectionLimit.For(ConnectionLimit.OpenFileLimit()));

        // The host ignores a shutdownTimeoutSeconds it cannot read: checked with the other settings.
        builder.Services.AddShutdownTimeoutCheck();
        // A value that does not read is one bad setting among the others, all reported at once.
        builder.Services.AddUnreadableSettingsReported();
        // Kestrel reads a port that does not read as none (port 80 of every interface): checked too.
        builder.Services.AddListenAddressesCheck();

        builder.AddDefaultHealthChecks();

        builder.Services.AddServiceDiscovery();

        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            // Turn on resilience by default
            http.AddStandardResilienceHandler();

            // Turn on service discovery by default
            http.AddServiceDiscovery();
        });

        return builder;
    }

    /// <summary>Configures OpenTelemetry logging, metrics and tracing.</summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => ConfigureResource(resource, builder.Environment.ApplicationName))
            .WithMetrics(metrics =>
            {
                metrics.AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation()
                    .AddMeter(Orchestrator.ServiceDefaults.OrchestratorTelemetry.MeterName);
            })
            .WithTracing(tracing =>
            {
                // Drops Redis spans outside any recorded span (idle polling, health probes); see the class.
                tracing.SetSampler(new Orchestrator.ServiceDefaults.OrphanRedisSpanSampler())
                    .AddSource(builder.Environment.ApplicationName)
                    .AddSource(Orchestrator.ServiceDefaults.OrchestratorTelemetry.ActivitySourceName)
                    .AddAspNetCoreInstrumentation(aspNetCore =>
                        // Health probes arrive every few seconds; tracing them only adds noise.
                        aspNetCore.Filter = context =>
                            !context.Request.Path.StartsWithSegments(HealthEndpointPath)
                            && !context.Request.Path.StartsWithSegments(AlivenessEndpointPath))
                    .AddHttpClientInstrumentation();
            });

        builder.AddOpenTelemetryExporters();

        return builder;
    }

    /// <summary>
    /// The resource every signal carries. Replicas outside the AppHost exported the same resource
    /// (service.name only), so a backend merged their cumulative counters into one series that
    /// jumped between the workers' totals: each process now names itself with a
    /// <c>service.instance.id</c> of its own (a random UUID). What the environment sets wins, as the
    /// SDK's default resource has it: <c>OTEL_SERVICE_NAME</c> and <c>OTEL_RESOURCE_ATTRIBUTES</c>
    /// (the AppHost passes <c>service.instance.id</c> there, the id its dashboard shows).
    /// </summary>
    private static ResourceBuilder ConfigureResource(ResourceBuilder resource, string applicationName) => resource
        .Clear()
        // Defaults first: a later source's attribute replaces an earlier one's.
        // The application name ("Orchestrator.Worker"), where the SDK would say "unknown_service:dotnet" (the process).
        .AddService(applicationName, autoGenerateServiceInstanceId: true)
        .AddTelemetrySdk()
        .AddEnvironmentVariableDetector();

    private static TBuilder AddOpenTelemetryExporters<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        var useOtlpExporter = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);

        if (useOtlpExporter)
        {
            // One exporter per signal, not UseOtlpExporter(): only these take options in code (OwnHttpClient).
            builder.Services.AddOpenTelemetry()
                .WithLogging(logging => logging.AddOtlpExporter(OwnHttpClient))
                .WithTracing(tracing => tracing.AddOtlpExporter(OwnHttpClient))
                .WithMetrics(metrics => metrics.AddOtlpExporter(OwnHttpClient));
        }

        return builder;
    }

    /// <summary>
    /// Gives an OTLP exporter the HttpClient the SDK makes itself (its timeout, its TLS settings),
    /// not one from IHttpClientFactory. From the factory, the client ran through the handlers
    /// <see cref="AddServiceDefaults"/> adds to every client, the standard resilience handler among
    /// them, whose pipeline the container disposes before the logger provider: the logs' last
    /// export at shutdown threw "This resilience pipeline has been disposed", and every line since
    /// the export before it (the draining, the hand-backs) was lost. Over <c>http/protobuf</c> only:
    /// the SDK takes the factory's client for that protocol alone, so gRPC exports were not hit. The
    /// exporter retries by itself; it needs no retry or circuit breaker around it.
    /// </summary>
    private static void OwnHttpClient(OtlpExporterOptions options)
    {
        // The SDK asks IHttpClientFactory only while this is still its own default factory.
        var sdkDefault = options.HttpClientFactory;
        options.HttpClientFactory = () => sdkDefault();
    }

    /// <summary>
    /// Adds the "self" liveness check (tagged <c>live</c>). Readiness checks, such as the Redis
    /// check <c>AddRedisClient</c> registers, are added by the service itself.
    /// </summary>
    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            // Add a default liveness check to ensure app is responsive
            .AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);

        return builder;
    }

    /// <summary>
    /// Maps <c>/health</c> (ready: every check passes, Redis included) and <c>/alive</c> (live:
    /// only the checks tagged <c>live</c>). Unlike the template these are mapped in every
    /// environment: the AppHost, operators and tests probe them. They reveal only
    /// Healthy/Degraded/Unhealthy, and are open to callers without an API key.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        // Open without credentials: orchestrators and load balancers probe them with none.
        // GET and HEAD only (a probe's methods): any other is answered 405, where every method was a probe.
        app.MapHealthChecks(HealthEndpointPath).AllowAnonymous().AlsoHead();

        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains("live"),
        }).AllowAnonymous().AlsoHead();

        return app;
    }
}

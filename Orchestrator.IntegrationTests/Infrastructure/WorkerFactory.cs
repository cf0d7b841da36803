extern alias OrchestratorWorker;

using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Logs;
using OpenTelemetry.Trace;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// The real Worker hosted in-process: its own <c>Program.cs</c> composes it (service defaults,
/// Redis client with its tracing, job store, pipeline, <c>JobWorker</c>), pointed at a test's
/// <c>redis-server</c>. Every span and log record the host exports is also kept in
/// <see cref="Spans"/> and <see cref="Logs"/>. The host starts on first use of
/// <see cref="WebApplicationFactory{TEntryPoint}.Services"/>.
/// </summary>
internal sealed class WorkerFactory(string redisConnectionString, IReadOnlyDictionary<string, string> settings)
    : WebApplicationFactory<OrchestratorWorker::Program>
{
    public SpanCapture Spans { get; } = new();

    public LogCapture Logs { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // UseSetting: the minimal host reads these before Build() (AddRedisClient reads the connection string).
        builder.UseSetting("ConnectionStrings:redis", redisConnectionString);
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureServices(services =>
        {
            services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddProcessor(Spans));
            services.ConfigureOpenTelemetryLoggerProvider(logging => logging.AddProcessor(Logs));
        });
    }
}

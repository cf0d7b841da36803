using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace Orchestrator.IntegrationTests.AppHost;

/// <summary>
/// A service that stops at start on a bad setting is reported on the AppHost's own log, with the line
/// it wrote: it was visible only in the dashboard's console logs, and requests to the API's port hung.
/// </summary>
public sealed class ServiceExitReportTests
{
    [Fact]
    public async Task WorkerWithABadSetting_ItsExitAndLineAreOnTheAppHostsLog()
    {
        using var timeout = new CancellationTokenSource(AppHostFixture.StartTimeout);
        var cancellationToken = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, TestContext.Current.CancellationToken).Token;
        var dataPath = Directory.CreateTempSubdirectory("orchestrator-exit-report-").FullName;
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Orchestrator_AppHost>(
            ["--Redis:Mode=local", $"--Redis:DataPath={dataPath}", "--Api:Port=0", "--Web:Port=0", "--Worker:Concurrency=0"], cancellationToken);
        builder.Services.AddFakeLogging();
        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            // No OTLP collector here: the exporter's final flush would retry for ~15 s at shutdown.
            builder.CreateResourceBuilder(project).WithEnvironment(context => context.EnvironmentVariables.Remove("OTEL_EXPORTER_OTLP_ENDPOINT"));
        }

        await using var app = await builder.BuildAsync(cancellationToken);
        try
        {
            await app.StartAsync(cancellationToken);
            var logs = app.Services.GetFakeLogCollector();

            await AsyncWait.WaitUntilAsync(
                () => Task.FromResult(logs.GetSnapshot().Any(r => r.Category?.EndsWith("ServiceExitReport.Reporter", StringComparison.Ordinal) == true)),
                AppHostFixture.StartTimeout, "the worker's exit is reported");

            var report = Assert.Single(logs.GetSnapshot(), r => r.Category?.EndsWith("ServiceExitReport.Reporter", StringComparison.Ordinal) == true);
            Assert.Equal(LogLevel.Error, report.Level);
            Assert.StartsWith("worker-", report.Message, StringComparison.Ordinal);
            Assert.Contains("exited with code 1:", report.Message, StringComparison.Ordinal);
            Assert.Contains($"{Environment.NewLine}  Worker:Concurrency must be between 1 and 10000", report.Message, StringComparison.Ordinal);
        }
        finally
        {
            using var stop = new CancellationTokenSource(AppHostFixture.StopTimeout);
            await app.StopAsync(stop.Token);
            Directory.Delete(dataPath, recursive: true);
        }
    }
}

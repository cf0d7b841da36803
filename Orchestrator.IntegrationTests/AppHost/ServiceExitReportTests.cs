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
    [Theory]
    [InlineData("Worker:Concurrency=0", "worker-", "Worker:Concurrency must be between 1 and 10000")]
    // The jobs page waits for the API, and the application's start for it: the report, begun after that
    // start, never came, and the AppHost's console said nothing (an outside audit).
    [InlineData("Api:MaxPromptLength=0", "api-", "Api:MaxPromptLength must be between 1 and 10000000")]
    public async Task ServiceWithABadSetting_ItsExitAndLineAreOnTheAppHostsLog(string setting, string resource, string line)
    {
        using var timeout = new CancellationTokenSource(AppHostFixture.StartTimeout);
        var cancellationToken = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, TestContext.Current.CancellationToken).Token;
        var dataPath = Directory.CreateTempSubdirectory("orchestrator-exit-report-").FullName;
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Orchestrator_AppHost>(
            ["--Redis:Mode=local", $"--Redis:DataPath={dataPath}", "--Api:Port=0", "--Web:Port=0", "--" + setting], cancellationToken);
        builder.Services.AddFakeLogging();
        foreach (var project in builder.Resources.OfType<ProjectResource>())
        {
            // No OTLP collector here: the exporter's final flush would retry for ~15 s at shutdown.
            builder.CreateResourceBuilder(project).WithEnvironment(context => context.EnvironmentVariables.Remove("OTEL_EXPORTER_OTLP_ENDPOINT"));
        }

        await using var app = await builder.BuildAsync(cancellationToken);
        using var starting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // Not awaited: with the API down the start never ends.
        var start = app.StartAsync(starting.Token);
        try
        {
            var logs = app.Services.GetFakeLogCollector();

            await AsyncWait.WaitUntilAsync(
                () => Task.FromResult(logs.GetSnapshot().Any(r => r.Category?.EndsWith("ServiceExitReport.Reporter", StringComparison.Ordinal) == true)),
                AppHostFixture.StartTimeout, "the service's exit is reported");

            var report = Assert.Single(logs.GetSnapshot(), r => r.Category?.EndsWith("ServiceExitReport.Reporter", StringComparison.Ordinal) == true);
            Assert.Equal(LogLevel.Error, report.Level);
            Assert.StartsWith(resource, report.Message, StringComparison.Ordinal);
            Assert.Contains("exited with code 1:", report.Message, StringComparison.Ordinal);
            Assert.Contains($"{Environment.NewLine}  {line}", report.Message, StringComparison.Ordinal);
        }
        finally
        {
            await starting.CancelAsync();
            try
            {
                await start;
            }
            catch (OperationCanceledException)
            {
                // The start, still waiting for the API, was given up.
            }

            using var stop = new CancellationTokenSource(AppHostFixture.StopTimeout);
            await app.StopAsync(stop.Token);
            Directory.Delete(dataPath, recursive: true);
        }
    }
}

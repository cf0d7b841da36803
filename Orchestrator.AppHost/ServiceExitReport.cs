using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Orchestrator.AppHost;

/// <summary>
/// Says on the AppHost's console when one of its services ends with an error, with the last lines it
/// wrote to standard error: a bad setting (<c>Worker__Concurrency=0 dotnet run --project
/// Orchestrator.AppHost</c>) stopped the worker with one line naming it, visible only in the dashboard's
/// console logs, while the AppHost's console said nothing and requests to the API's port hung.
/// </summary>
internal static class ServiceExitReport
{
    /// <summary>Lines of standard error quoted: a start-up check writes one per bad setting.</summary>
    public const int QuotedLines = 5;

    public static IDistributedApplicationBuilder AddServiceExitReport(this IDistributedApplicationBuilder builder)
    {
        if (builder.ExecutionContext.IsRunMode)
        {
            // Watching from before the services start, not as a hosted service: the application's own
            // start waits for its services (the jobs page waits for the API), and a hosted service
            // started after it, so an API that stopped at start was never reported and the console
            // stayed silent.
            builder.Eventing.Subscribe<BeforeStartEvent>((started, cancellationToken) =>
            {
                _ = ActivatorUtilities.CreateInstance<Reporter>(started.Services).RunAsync();
                return Task.CompletedTask;
            });
        }

        return builder;
    }

    private sealed class Reporter(
        ResourceNotificationService notifications, ResourceLoggerService logs, IHostApplicationLifetime lifetime, ILogger<Reporter> logger)
    {
        /// <summary>Reports every service's failed exit until the AppHost stops; never throws.</summary>
        public async Task RunAsync()
        {
            var stoppingToken = lifetime.ApplicationStopping;
            var reported = new HashSet<string>(StringComparer.Ordinal);
            try
            {
                await foreach (var update in notifications.WatchAsync(stoppingToken).ConfigureAwait(false))
                {
                    if (update.Resource is ProjectResource
                        && update.Snapshot.ExitCode is { } code and not 0
                        && !stoppingToken.IsCancellationRequested
                        && reported.Add($"{update.ResourceId}:{update.Snapshot.StartTimeStamp?.Ticks}"))
                    {
                        var lines = await LastErrorLinesAsync(update.ResourceId, stoppingToken).ConfigureAwait(false);
                        logger.LogError("{Resource} exited with code {ExitCode}{Lines}", update.ResourceId, code,
                            lines.Count == 0 ? " (its console logs are in the dashboard)." : ":" + string.Concat(lines.Select(line => Environment.NewLine + "  " + line)));
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
            // A report is a convenience: whatever it meets must not stop the AppHost.
            catch (Exception e)
            {
                logger.LogWarning(e, "Exits of the services are no longer reported on this console (the dashboard shows them).");
            }
        }

        private async Task<List<string>> LastErrorLinesAsync(string resourceId, CancellationToken cancellationToken)
        {
            var last = new Queue<string>(QuotedLines);
            try
            {
                await foreach (var batch in logs.GetAllAsync(resourceId).WithCancellation(cancellationToken).ConfigureAwait(false))
                {
                    foreach (var line in batch.Where(line => line.IsErrorMessage))
                    {
                        if (last.Count == QuotedLines)
                        {
                            last.Dequeue();
                        }

                        last.Enqueue(WithoutTimestamp(line.Content));
                    }
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The exit is reported without its lines: they stay in the dashboard.
                logger.LogDebug(e, "The console logs of {Resource} could not be read.", resourceId);
            }

            return [.. last];
        }

        /// <summary>The line as the service wrote it: the console log stream puts its own timestamp first.</summary>
        private static string WithoutTimestamp(string content) =>
            content.IndexOf(' ', StringComparison.Ordinal) is > 0 and var space
                && DateTimeOffset.TryParse(content.AsSpan(0, space), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _)
                ? content[(space + 1)..]
                : content;
    }
}

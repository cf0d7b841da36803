using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Orchestrator.Worker.Resilience;
using Orchestrator.Worker.Telemetry;

namespace Orchestrator.Worker.Webhooks;

/// <summary>
/// The gauge <c>orchestrator.webhooks.outbox</c>: deliveries in the outbox (waiting for a try or
/// being sent), read with one <c>ZCARD</c> every <c>Webhooks:PollInterval</c>. Runs whether or not
/// this worker has a secret: a worker without one sends nothing, and then the outbox is what grows.
/// Until the first read, and while Redis does not answer, the gauge reports nothing rather than a
/// stale number. Before each read it drops members whose delivery record has expired with its job
/// (<see cref="JobStore.PruneWebhookOutboxAsync"/>), a page walked from a cursor: a worker without a
/// secret a large one (only the claims of a sending worker drop them otherwise, and the outbox grew
/// with every callback, forever), a sending worker a small one (its claims drop those due; a delivery
/// rescheduled an hour ahead outlived a shorter <c>Api:JobRetention</c> by the rest of that hour).
/// </summary>
internal sealed class WebhookOutboxGauge(
    JobStore store,
    OrchestratorMetrics metrics,
    LoopSupervisor loops,
    IOptions<WebhookOptions> options,
    TimeProvider timeProvider,
    ILogger<WebhookOutboxGauge> logger) : BackgroundService
{
    // Members looked at per partition and read: more than a busy fleet's callbacks a second.
    private const int PruneLimit = 1000;

    // … by a worker that sends (its claims drop the due ones).
    private const int SendingPruneLimit = 100;

    private long _depth = -1;

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        metrics.Meter.CreateObservableGauge("orchestrator.webhooks.outbox",
            () => Volatile.Read(ref _depth) is >= 0 and var depth ? [new Measurement<long>(depth)] : Array.Empty<Measurement<long>>(),
            "{delivery}", "Webhook deliveries in the outbox: waiting for a try, or being sent.");
        var interval = options.Value.PollInterval;
        var pruneLimit = options.Value.SecretKeys().Count == 0 && options.Value.TenantSecretKeys().Count == 0 ? PruneLimit : SendingPruneLimit;
        var timer = new PeriodicTimer(interval, timeProvider);
        return loops.RunAsync("webhook-outbox", async ct =>
        {
            try
            {
                await store.PruneWebhookOutboxAsync(pruneLimit).ConfigureAwait(false);

                Volatile.Write(ref _depth, await store.CountWebhookOutboxAsync().ConfigureAwait(false));
            }
            catch (Exception e) when (RedisFailure.IsTransient(e))
            {
                Volatile.Write(ref _depth, -1);
                WorkerLog.RedisUnavailable(logger, "webhook outbox gauge", interval, e);
            }

            await timer.WaitForNextTickAsync(ct).ConfigureAwait(false);
        }, stoppingToken).ContinueWith(_ => timer.Dispose(), TaskScheduler.Default);
    }
}

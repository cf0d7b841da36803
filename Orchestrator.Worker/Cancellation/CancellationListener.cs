using Orchestrator.Jobs;
using Orchestrator.Worker.Processing;
using Orchestrator.Worker.Telemetry;
using StackExchange.Redis;

namespace Orchestrator.Worker.Cancellation;

/// <summary>
/// Aborts the LLM call of a job a client canceled (<c>POST /jobs/{id}/cancel</c>), whichever worker
/// process runs it: every worker subscribes to <see cref="RedisKeys.CancelChannel"/>, and the one
/// holding the job cancels that job's token, which closes the provider's HTTP request. The job is
/// then recorded <c>canceled</c> (<see cref="JobProcessor"/>). The flag in the job hash
/// (<c>cancelRequested</c>) is what makes it durable: no script starts another attempt of a flagged
/// job, whether or not this message arrived.
/// </summary>
internal sealed partial class CancellationListener(
    IConnectionMultiplexer redis, JobStore store, LeaseKeeper leases, ILogger<CancellationListener> logger) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Redis may be down when the worker starts: keep trying (StackExchange.Redis restores the
        // subscription itself after a reconnect once it is made).
        // One channel per partition (the cancel script publishes on its job's partition's).
        var subscribed = 0;
        Action<RedisChannel, RedisValue> handler = (_, message) => OnCancel((string?)message);
        _ = new SubscriptionKeeper(redis, [.. store.Keys.All.Select(k => k.CancelChannel)], handler, logger, TimeProvider.System, stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                for (; subscribed < store.Keys.All.Count; subscribed++)
                {
                    await redis.GetSubscriber().SubscribeAsync(store.Keys.All[subscribed].CancelChannel, handler).ConfigureAwait(false);
                }

                return;
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // As WorkerLog.RedisUnavailable: Redis away is named in one line, a bug with its stack trace.
                var kind = RedisFailure.Classify(e);
                LogSubscribeFailed(logger, kind, e.GetType().Name, RetryDelay, e.Message, WorkerLog.StackWorthy(kind, e));
                await Task.Delay(RetryDelay, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private void OnCancel(string? jobId)
    {
        if (!string.IsNullOrEmpty(jobId))
        {
            leases.OnCancelPublished(jobId);
        }
    }

    [LoggerMessage(EventName = "CancellationSubscribeFailed", Level = LogLevel.Warning, Message = "Cannot subscribe to cancellations yet ({Kind}, {ExceptionType}); retrying in {Delay}: {Reason}")]
    private static partial void LogSubscribeFailed(ILogger logger, RedisFailureKind kind, string exceptionType, TimeSpan delay, string reason, Exception? exception);
}

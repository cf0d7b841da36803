using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using StackExchange.Redis;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// The worker loop: fetch new entries (blocking read) and reclaim lapsed ones, up to
/// <c>Worker:Concurrency</c> jobs at once, each run by <see cref="JobProcessor"/> in its own task so
/// one bad job never stops the host. On shutdown: stop fetching, hand back waiting jobs at once,
/// let running LLM calls finish within the host's shutdown timeout, then hand back the rest.
/// </summary>
internal sealed class JobWorker(
    JobStore store,
    JobProcessor processor,
    IOptions<RetryOptions> retryOptions,
    LeaseKeeper leases,
    BlockingRedisConnection blockingConnection,
    OrchestratorMetrics metrics,
    IOptions<WorkerOptions> options,
    TimeProvider timeProvider,
    ILogger<JobWorker> logger) : BackgroundService
{
    private const int MaxBatch = 64;
    private static readonly TimeSpan StatsInterval = TimeSpan.FromSeconds(5);

    private readonly WorkerOptions _options = options.Value;
    private readonly SemaphoreSlim _slots = new(options.Value.Concurrency, options.Value.Concurrency);
    private readonly ConcurrentDictionary<string, Task> _inFlight = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _hardStop = new();
    private volatile bool _draining;
    private QueueStats? _stats;

    /// <summary>This process's consumer name in the group: unique per process, readable in XINFO.</summary>
    public string Consumer { get; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        metrics.Meter.CreateObservableGauge("orchestrator.queue.length", () => _stats?.StreamLength ?? 0, "{entry}", "Entries in the jobs stream (queued and in progress).");
        metrics.Meter.CreateObservableGauge("orchestrator.queue.pending", () => _stats?.Pending ?? 0, "{entry}", "Entries delivered to a worker and not yet finished.");
        metrics.Meter.CreateObservableGauge("orchestrator.dead_letters", () => _stats?.DeadLetters ?? 0, "{job}", "Jobs in the dead-letter list.");

        WorkerLog.Started(logger, Consumer, _options.Concurrency, _options.LeaseTimeout);
        try
        {
            await RedisRetry.RunAsync(async () => { await store.EnsureConsumerGroupAsync().ConfigureAwait(false); return true; },
                "create consumer group", logger, timeProvider, stoppingToken).ConfigureAwait(false);
            var leaseLoop = leases.RunAsync(_hardStop.Token);
            var statsLoop = StatsLoopAsync(stoppingToken);
            await FetchLoopAsync(stoppingToken).ConfigureAwait(false);
            await statsLoop.ConfigureAwait(false);
            _ = leaseLoop;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _draining = true;
        WorkerLog.Draining(logger, Consumer, _inFlight.Count);
        foreach (var execution in leases.Held)
        {
            execution.BeginDrain();
        }

        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_inFlight.Values).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The host's shutdown timeout is up: cancel the calls still running and hand their jobs back.
            await _hardStop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(_inFlight.Values).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None)
                .ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
        }
        finally
        {
            await _hardStop.CancelAsync().ConfigureAwait(false);
        }
    }

    public override void Dispose()
    {
        _hardStop.Dispose();
        _slots.Dispose();
        base.Dispose();
    }

    private async Task FetchLoopAsync(CancellationToken stoppingToken)
    {
        // Claims run beside the next read instead of before it, so a busy worker refills its free
        // slots without waiting a claim's round trip; the loop ends only once they are done.
        var claims = new List<Task>();
        try
        {
            await FetchAsync(claims, stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            await Task.WhenAll(claims).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
        }
    }

    private async Task FetchAsync(List<Task> claims, CancellationToken stoppingToken)
    {
        var connection = await blockingConnection.GetAsync().ConfigureAwait(false);
        var backoff = TimeSpan.FromMilliseconds(100);
        // The read blocks at most until the next reclaim is due.
        var block = _options.PollTimeout < _options.ReclaimInterval ? _options.PollTimeout : _options.ReclaimInterval;
        var lastReclaim = long.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            var taken = await TakeSlotsAsync(stoppingToken).ConfigureAwait(false);

            // Lapsed leases are taken over here, with the slots this loop holds, and not in a loop
            // of their own: during the blocking read below this loop holds every free slot, so a
            // separate reclaimer would (almost) never find one and an idle worker would leave a
            // crashed worker's jobs pending forever.
            if (lastReclaim == long.MinValue || timeProvider.GetElapsedTime(lastReclaim) >= _options.ReclaimInterval)
            {
                lastReclaim = timeProvider.GetTimestamp();
                taken -= await ReclaimAsync(taken, stoppingToken).ConfigureAwait(false);
                if (taken == 0)
                {
                    continue;
                }
            }

            IReadOnlyList<Delivery> batch;
            try
            {
                batch = await store.ReadNewAsync(connection, Consumer, taken, block).ConfigureAwait(false);
                backoff = TimeSpan.FromMilliseconds(100);
            }
            catch (RedisServerException e) when (e.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                // Redis lost the group (restarted without persistence): create it again.
                _slots.Release(taken);
                await RedisRetry.RunAsync(async () => { await store.EnsureConsumerGroupAsync().ConfigureAwait(false); return true; },
                    "create consumer group", logger, timeProvider, stoppingToken).ConfigureAwait(false);
                continue;
            }
            catch (Exception e) when (RedisRetry.IsUnavailable(e))
            {
                _slots.Release(taken);
                WorkerLog.RedisUnavailable(logger, "read new jobs", backoff, e);
                await Task.Delay(backoff, timeProvider, stoppingToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
                continue;
            }

            if (taken > batch.Count)
            {
                _slots.Release(taken - batch.Count);
            }

            if (_draining && batch.Count > 0)
            {
                // Read while shutting down: hand the entries straight back for another worker.
                _slots.Release(batch.Count);
                await ReturnAsync(batch).ConfigureAwait(false);
                break;
            }

            claims.RemoveAll(static t => t.IsCompleted);
            claims.Add(ClaimAndStartAsync(batch, stoppingToken));
        }
    }

    /// <summary>
    /// Claims a batch in one script call (retrying while Redis is unavailable) and starts a task
    /// per job. Each delivery holds a slot, released when its job is done.
    /// </summary>
    private async Task ClaimAndStartAsync(IReadOnlyList<Delivery> deliveries, CancellationToken stoppingToken)
    {
        if (deliveries.Count == 0)
        {
            return;
        }

        IReadOnlyList<ClaimResult> claims;
        try
        {
            // A draining worker claims without starting an attempt: the job is handed back unspent.
            claims = await RedisRetry.RunAsync(
                () => store.ClaimManyAsync(deliveries, Consumer, retryOptions.Value.MaxAttempts, startAttempt: !_draining),
                "claim", logger, timeProvider, stoppingToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Unclaimed, the entries stay pending and are reclaimed once idle past the lease.
            _slots.Release(deliveries.Count);
            if (e is OperationCanceledException)
            {
                throw;
            }

            WorkerLog.Unexpected(logger, deliveries[0].JobId, 0, e);
            return;
        }

        for (var i = 0; i < deliveries.Count; i++)
        {
            Start(deliveries[i], claims[i]);
        }
    }

    /// <summary>Takes over up to <paramref name="slots"/> entries whose lease lapsed; returns how many slots it used.</summary>
    private async Task<int> ReclaimAsync(int slots, CancellationToken stoppingToken)
    {
        try
        {
            var reclaimed = await store.ReclaimExpiredAsync(Consumer, _options.LeaseTimeout, slots).ConfigureAwait(false);
            // Skip our own entries, idle because renewals failed during a Redis outage: still ours.
            var taken = reclaimed.Where(d => !leases.IsHeld(d.EntryId)).ToList();
            await ClaimAndStartAsync(taken, stoppingToken).ConfigureAwait(false);
            return taken.Count;
        }
        catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException or RedisServerException)
        {
            WorkerLog.RedisUnavailable(logger, "reclaim", _options.ReclaimInterval, e);
            return 0;
        }
    }

    private async Task StatsLoopAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(StatsInterval, timeProvider);
        do
        {
            try
            {
                _stats = await store.GetStatsAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException or RedisServerException)
            {
                WorkerLog.RedisUnavailable(logger, "queue stats", StatsInterval, e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    private async Task<int> TakeSlotsAsync(CancellationToken stoppingToken)
    {
        await _slots.WaitAsync(stoppingToken).ConfigureAwait(false);
        var taken = 1;
        while (taken < MaxBatch && _slots.Wait(0))
        {
            taken++;
        }

        return taken;
    }

    private void Start(Delivery delivery, ClaimResult claim)
    {
        var task = Task.Run(async () =>
        {
            try
            {
                await processor.ProcessAsync(claim, delivery, execution =>
                {
                    if (_draining)
                    {
                        execution.BeginDrain();
                    }
                }, _hardStop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_hardStop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                // One bad job never stops the host; its entry stays pending and is reclaimed later.
                WorkerLog.Unexpected(logger, delivery.JobId, 0, e);
            }
            finally
            {
                _inFlight.TryRemove(delivery.EntryId, out _);
                _slots.Release();
            }
        });
        _inFlight[delivery.EntryId] = task;
    }

    private async Task ReturnAsync(IReadOnlyList<Delivery> batch)
    {
        try
        {
            await store.ReturnUnclaimedAsync(Consumer, [.. batch.Select(d => d.EntryId)]).ConfigureAwait(false);
        }
        catch (Exception e) when (RedisRetry.IsUnavailable(e))
        {
            // They stay pending here and are reclaimed once idle past the lease. Nothing is lost.
            WorkerLog.RedisUnavailable(logger, "return entries", TimeSpan.Zero, e);
        }
    }
}

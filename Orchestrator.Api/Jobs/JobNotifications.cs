using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using Polly.Registry;
using StackExchange.Redis;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// Wakes the requests that wait on jobs (<c>?wait=</c>, SSE, cancel) when Redis announces a job
/// event: one subscription to <see cref="RedisKeys.EventsChannel"/> per API process, and an
/// in-memory map from job id to the requests listening, so thousands of waits cost no Redis
/// connection or command while they wait. A wake-up only says "look again": the waiter reads the
/// job (or its events), so a message lost while the subscription reconnects costs at most
/// the wait; on reconnect every listener is woken to look again. When the host stops, every wait
/// ends at once as if its time were up: Kestrel lets requests in progress finish before the process
/// exits, and a wait held to its end held the shutdown up to the host's shutdown timeout.
/// </summary>
internal sealed partial class JobNotifications(
    IConnectionMultiplexer redis, JobStore store, ResiliencePipelineProvider<string> pipelines, IOptions<ApiOptions> options,
    IHostApplicationLifetime lifetime, ILogger<JobNotifications> logger) : BackgroundService
{
    private readonly Dictionary<string, List<JobListener>> _listeners = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _tenantCounts = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private int _count;

    /// <summary>
    /// Starts listening for <paramref name="jobId"/>'s events (only its final one with
    /// <paramref name="finalOnly"/>) for a caller of <paramref name="tenant"/> (null: an admin key);
    /// null, with <paramref name="refusal"/> saying why, when <c>Api:MaxConcurrentWaits</c> listeners
    /// are open, or the tenant's <c>Api:MaxConcurrentWaitsPerTenant</c>.
    /// Listen before reading the job: an event between the read and the wait then still wakes it.
    /// </summary>
    public JobListener? Listen(string jobId, bool finalOnly, string? tenant, out WaitRefusal refusal)
    {
        lock (_gate)
        {
            var tenantCount = tenant is not null && _tenantCounts.TryGetValue(tenant, out var held) ? held : 0;
            refusal = _count >= options.Value.MaxConcurrentWaits ? WaitRefusal.ProcessFull
                : tenant is not null && tenantCount >= options.Value.MaxConcurrentWaitsPerTenant ? WaitRefusal.TenantFull
                : WaitRefusal.None;
            if (refusal != WaitRefusal.None)
            {
                return null;
            }

            var listener = new JobListener(this, jobId, finalOnly, tenant, lifetime.ApplicationStopping);
            if (!_listeners.TryGetValue(jobId, out var list))
            {
                _listeners[jobId] = list = new List<JobListener>(1);
            }

            list.Add(listener);
            _count++;
            if (tenant is not null)
            {
                _tenantCounts[tenant] = tenantCount + 1;
            }

            return listener;
        }
    }

    /// <summary>Listeners open now.</summary>
    public int Count => Volatile.Read(ref _count);

    internal void Remove(JobListener listener)
    {
        lock (_gate)
        {
            if (_listeners.TryGetValue(listener.JobId, out var list) && list.Remove(listener))
            {
                _count--;
                if (list.Count == 0)
                {
                    _listeners.Remove(listener.JobId);
                }

                if (listener.Tenant is { } tenant && --_tenantCounts[tenant] == 0)
                {
                    _tenantCounts.Remove(tenant);
                }
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        redis.ConnectionRestored += (_, _) => WakeAll();
        // Redis may be down when the API starts: the redis pipeline keeps trying, as the worker's calls
        // do; until then waits end at their timeout. One channel per partition (a script publishes
        // on its job's partition's).
        var pipeline = pipelines.GetPipeline(RedisPipeline.Name);
        Action<RedisChannel, RedisValue> handler = (_, message) => OnMessage(message);
        RedisChannel[] channels = [.. store.Keys.All.Select(k => k.EventsChannel)];
        _ = new SubscriptionKeeper(redis, channels, handler, logger, TimeProvider.System, stoppingToken);
        foreach (var channel in channels)
        {
            try
            {
                await pipeline.ExecuteRedisAsync("subscribe to job events", async _ =>
                {
                    await redis.GetSubscriber().SubscribeAsync(channel, handler).ConfigureAwait(false);
                    return true;
                }, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Not a transient failure (an ACL user without pub/sub, say): this partition's waits end at their timeout.
                LogSubscribeFailed(logger, channel.ToString(), e);
            }
        }

        WakeAll();
    }

    private void OnMessage(RedisValue message)
    {
        var text = (string?)message;
        var space = text?.IndexOf(' ', StringComparison.Ordinal) ?? -1;
        if (space <= 0)
        {
            return;
        }

        var jobId = text![..space];
        var final = text.AsSpan(space + 1).SequenceEqual(JobEvent.Done);
        lock (_gate)
        {
            if (_listeners.TryGetValue(jobId, out var list))
            {
                foreach (var listener in list)
                {
                    if (final || !listener.FinalOnly)
                    {
                        listener.Signal();
                    }
                }
            }
        }
    }

    private void WakeAll()
    {
        lock (_gate)
        {
            foreach (var list in _listeners.Values)
            {
                foreach (var listener in list)
                {
                    listener.Signal();
                }
            }
        }
    }

    [LoggerMessage(EventName = "JobEventsSubscribeFailed", Level = LogLevel.Error, Message = "Cannot subscribe to job events on {Channel}; waits on its jobs end at their timeout")]
    private static partial void LogSubscribeFailed(ILogger logger, string channel, Exception exception);
}

/// <summary>One request waiting on one job's events; dispose it when the request ends.</summary>
internal sealed class JobListener : IDisposable
{
    private readonly JobNotifications _owner;
    private readonly CancellationToken _hostStopping;

    // One pending wake-up at most: several events before the waiter looks are one "look again".
    private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    internal JobListener(JobNotifications owner, string jobId, bool finalOnly, string? tenant, CancellationToken hostStopping)
    {
        _owner = owner;
        _hostStopping = hostStopping;
        JobId = jobId;
        FinalOnly = finalOnly;
        Tenant = tenant;
    }

    public string JobId { get; }

    /// <summary>The tenant whose key opened it (null: an admin key), counted towards <c>Api:MaxConcurrentWaitsPerTenant</c>.</summary>
    public string? Tenant { get; }

    public bool FinalOnly { get; }

    /// <summary>Whether the host is stopping: every wait then ends at once, as when its time is up.</summary>
    public bool HostStopping => _hostStopping.IsCancellationRequested;

    internal void Signal() => _signal.Writer.TryWrite(true);

    /// <summary>True when woken within <paramref name="timeout"/>, false when it passed or the host is stopping.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        if (_signal.Reader.TryRead(out _))
        {
            return true;
        }

        if (timeout <= TimeSpan.Zero || HostStopping)
        {
            return false;
        }

        using var timer = new CancellationTokenSource(timeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, _hostStopping, cancellationToken);
        try
        {
            await _signal.Reader.ReadAsync(linked.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    public void Dispose() => _owner.Remove(this);
}

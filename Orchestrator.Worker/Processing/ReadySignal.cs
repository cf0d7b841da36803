using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// Wakes an idle fetch loop when a tenant gets work a worker may take: the job scripts publish on
/// <see cref="RedisKeys.ReadyChannel"/> when a tenant's ready set stops being empty or a held
/// tenant's permit comes back (includes/ready.lua), on the job's partition's channel. Pub/sub delivers at most once, so the loop
/// also dispatches every <c>Worker:PollTimeout</c>: a lost message costs at most that.
/// </summary>
internal sealed class ReadySignal(IConnectionMultiplexer redis, RedisKeys keys, ILogger<ReadySignal> logger) : IAsyncDisposable
{
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly CancellationTokenSource _disposed = new();
    private Action<RedisChannel, RedisValue>? _handler;
    private ISubscriber? _subscriber;
    private int _subscribed;

    /// <summary>
    /// Subscribes, once it can: the client resubscribes by itself after a reconnect, but a first
    /// subscription made while Redis is away fails, and is tried again at the next wait (meanwhile
    /// the loop polls every timeout). Never throws for Redis being away: the worker must start anyway.
    /// </summary>
    private async Task EnsureSubscribedAsync()
    {
        if (_subscriber is not null)
        {
            return;
        }

        try
        {
            // One channel per partition (Jobs:Partitions): a script publishes on its job's partition's.
            var subscriber = redis.GetSubscriber();
            if (_handler is null)
            {
                _handler = (_, _) => Set();
                _ = new SubscriptionKeeper(redis, [.. keys.All.Select(k => k.ReadyChannel)], _handler, logger, TimeProvider.System, _disposed.Token);
            }

            for (; _subscribed < keys.All.Count; _subscribed++)
            {
                await subscriber.SubscribeAsync(keys.All[_subscribed].ReadyChannel, _handler).ConfigureAwait(false);
            }

            _subscriber = subscriber;
        }
        catch (Exception e) when (RedisFailure.IsTransient(e))
        {
            // Not yet: the wait below ends at its timeout, and the next one tries again.
        }
    }

    /// <summary>
    /// Before a dispatch: subscribes if not yet, and forgets a signal that came before it (that
    /// dispatch sees its work); one that comes after it wakes the next <see cref="WaitAsync"/>.
    /// </summary>
    public async Task ResetAsync()
    {
        await EnsureSubscribedAsync().ConfigureAwait(false);
        while (_signal.Wait(0))
        {
        }
    }

    /// <summary>Waits for a signal, at most <paramref name="timeout"/>.</summary>
    public async Task WaitAsync(TimeSpan timeout, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        using var timer = new CancellationTokenSource(timeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timer.Token, cancellationToken);
        // The timeout ends the wait without an exception (an idle worker reaches it every
        // Worker:PollTimeout): the loop dispatches again anyway. A stop is thrown as before.
        await _signal.WaitAsync(linked.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        cancellationToken.ThrowIfCancellationRequested();
    }

    private void Set()
    {
        // Already signalled: one wake-up serves every message before it. Checked first, as a busy
        // queue publishes several times a second and a thrown exception costs far more than a read.
        if (_signal.CurrentCount > 0)
        {
            return;
        }

        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Another message released it between the check and here.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _disposed.CancelAsync().ConfigureAwait(false);
        _disposed.Dispose();
        if (_subscriber is not null)
        {
            // Sent, not awaited: at a stop while Redis stalls (SIGSTOP, a partition) the awaited
            // reply timed out and its exception left the host's dispose, ending the worker with exit
            // code 134 past its shutdown timeout. Nothing waits on the answer: the connection closes next.
            foreach (var partition in keys.All)
            {
                try
                {
                    await _subscriber.UnsubscribeAsync(partition.ReadyChannel, flags: CommandFlags.FireAndForget).ConfigureAwait(false);
                }
                catch (Exception e) when (RedisFailure.IsTransient(e))
                {
                    // No connection to send it on: the subscription ends with the connection.
                }
            }
        }

        _signal.Dispose();
    }
}

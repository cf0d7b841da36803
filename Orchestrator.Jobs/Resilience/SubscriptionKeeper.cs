using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>
/// Keeps a handler subscribed to its channels: each time the client's subscription connection is
/// restored, the channels are subscribed again, every second until Redis takes them.
/// StackExchange.Redis subscribes again by itself after a reconnect, once: refused then, it tries no
/// more. Resetting an ACL user's channel rights closes its subscriptions, so the client reconnects
/// at once and is refused; with the rights given back, a service ran on without pub/sub and said
/// nothing (an outside audit: every cancel waited its 3 s, every <c>?wait=</c> its timeout).
/// </summary>
public sealed partial class SubscriptionKeeper
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    private readonly IConnectionMultiplexer _redis;
    private readonly IReadOnlyList<RedisChannel> _channels;
    private readonly Action<RedisChannel, RedisValue> _handler;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationToken _stopping;
    private readonly LogThrottle _failures;

    // Restores asking for a resubscription not yet begun: a burst makes one or two.
    private int _requests;

    /// <summary>Watches <paramref name="redis"/>'s subscription connection for <paramref name="handler"/>'s channels, until <paramref name="stopping"/>.</summary>
    public SubscriptionKeeper(
        IConnectionMultiplexer redis, IReadOnlyList<RedisChannel> channels, Action<RedisChannel, RedisValue> handler, ILogger logger,
        TimeProvider time, CancellationToken stopping)
    {
        (_redis, _channels, _handler, _logger, _time, _stopping) = (redis, channels, handler, logger, time, stopping);
        _failures = new LogThrottle(time, TimeSpan.FromSeconds(10));
        redis.ConnectionRestored += OnConnectionRestored;
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Subscription && !_stopping.IsCancellationRequested && Interlocked.Increment(ref _requests) == 1)
        {
            // Raised on the client's own thread: the subscriptions are made beside it.
            _ = Task.Run(ResubscribeAsync);
        }
    }

    private async Task ResubscribeAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            var asked = Volatile.Read(ref _requests);
            try
            {
                var subscriber = _redis.GetSubscriber();
                foreach (var channel in _channels)
                {
                    // Dropped first, so the handler is not registered twice; a message between the two is
                    // missed, as any lost message is (the readers' timeouts and polls cover it).
                    await subscriber.UnsubscribeAsync(channel, _handler).ConfigureAwait(false);
                    await subscriber.SubscribeAsync(channel, _handler).ConfigureAwait(false);
                }

                if (Interlocked.CompareExchange(ref _requests, 0, asked) == asked)
                {
                    return;
                }
            }
            catch (ObjectDisposedException)
            {
                return; // the connection is gone for good (its owner disposed it)
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                if (_failures.ShouldLog(out _))
                {
                    LogResubscribeFailed(_logger, RedisFailure.Classify(e), e.GetType().Name, RetryDelay, e.Message);
                }

                try
                {
                    await Task.Delay(RetryDelay, _time, _stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    [LoggerMessage(EventName = "ResubscribeFailed", Level = LogLevel.Warning,
        Message = "Cannot subscribe again after a reconnect ({Kind}, {ExceptionType}); retrying every {Delay}: {Reason}")]
    private static partial void LogResubscribeFailed(ILogger logger, RedisFailureKind kind, string exceptionType, TimeSpan delay, string reason);
}

using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>
/// A bound on the wait for a Redis reply that the client lost. StackExchange.Redis times out a
/// command it sent (its <c>AsyncTimeout</c>, 5 s by default), but a command caught between a
/// connection failing and the client recording the failure can be left with neither a reply nor a
/// timeout (StackExchange.Redis issue 2742, open in the version used). Awaited as is, such a task
/// never ends: a loop that awaits it stops for good, and a group commit (<see cref="GroupCommit{TItem, TResult}"/>)
/// stops every write queued behind it (the API's <c>POST /jobs</c>, the worker's outcomes).
/// After a bound (<see cref="BoundFor"/>) the wait ends in a <see cref="RedisTimeoutException"/> with an
/// unknown outcome: the caller treats it as any timeout (the <c>redis</c> pipeline sends the
/// transition again, which is safe: a repeat answers as the first call did; the API answers 503).
/// </summary>
public static class RedisReply
{
    /// <summary>
    /// How long a reply is waited for at least: twice the client's default timeout, so that a
    /// command the client still tracks ends in the client's own timeout, with its diagnostics, first.
    /// </summary>
    public static readonly TimeSpan LostAfter = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The wait for a reply on <paramref name="connection"/>: <see cref="LostAfter"/>, or twice the
    /// connection's own timeout (<c>syncTimeout</c>) when that is longer.
    /// </summary>
    public static TimeSpan BoundFor(IConnectionMultiplexer connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var twice = TimeSpan.FromMilliseconds(2.0 * connection.TimeoutMilliseconds);
        return twice > LostAfter ? twice : LostAfter;
    }

    /// <summary>
    /// <paramref name="reply"/>, or a <see cref="RedisTimeoutException"/> once it has not ended
    /// within <paramref name="bound"/> (<see cref="LostAfter"/> when not given; see <see cref="BoundFor"/>).
    /// </summary>
    public static async Task<T> WithinAsync<T>(Task<T> reply, TimeSpan? bound = null, TimeProvider? timeProvider = null)
    {
        var wait = bound ?? LostAfter;
        try
        {
            return await reply.WaitAsync(wait, timeProvider ?? TimeProvider.System).ConfigureAwait(false);
        }
        // WaitAsync's own TimeoutException, not the reply's (RedisTimeoutException derives from it):
        // the reply may complete between the timer and this line, and is then taken as unknown too.
        catch (TimeoutException e) when (e is not RedisTimeoutException)
        {
            // Should the reply come after all, its failure is observed here, not by the finalizer.
            _ = reply.ContinueWith(static t => t.Exception, CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw new RedisTimeoutException(
                $"No reply from Redis within {wait.TotalSeconds:0.###} s; the command's outcome is unknown.",
                CommandStatus.Unknown);
        }
    }
}

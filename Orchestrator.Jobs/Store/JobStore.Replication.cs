using StackExchange.Redis;

namespace Orchestrator.Jobs;

public sealed partial class JobStore
{
    /// <summary>
    /// The node the client's slot map gives <paramref name="partition"/>'s slot, for
    /// <see cref="SubmitOnAsync"/> and then <see cref="WaitForReplicasAsync"/> on that same node. Any
    /// node is safe there: a write succeeds only on the slot's master (another answers MOVED). Not
    /// <see cref="CommandFlags.DemandMaster"/>: after a failover the client takes the promoted node
    /// for a replica for seconds, and that picked another master, which refused every write (MOVED)
    /// meanwhile; this picks the promoted node as soon as a MOVED has named it. With no node connected
    /// (a reconnect) the client throws an <see cref="InvalidOperationException"/>, answered 500; it is
    /// Redis being away, so it is thrown as the <see cref="RedisConnectionException"/> every other call
    /// then throws, which callers answer 503.
    /// </summary>
    public IServer SubmissionMaster(int partition)
    {
        try
        {
            return redis.GetServer(_keys.For(partition).Stream, flags: CommandFlags.PreferMaster);
        }
        catch (InvalidOperationException e) when (e.Message.StartsWith("It was not possible to resolve a connection", StringComparison.Ordinal))
        {
            throw new RedisConnectionException(ConnectionFailureType.UnableToResolvePhysicalConnection, e.Message, e);
        }
    }

    /// <summary>
    /// <see cref="SubmitManyAsync"/> on <paramref name="master"/> only (<see cref="RedisScript.EvaluateOnAsync"/>):
    /// a submission whose slot that node does not own fails (MOVED, nothing written; the client sends
    /// again under its idempotency key) rather than being redirected to a node that a <c>WAIT</c> on
    /// <paramref name="master"/> does not ask: a new master with no replica took writes that another
    /// master's replicas then "confirmed". Every job must be of a partition <paramref name="master"/> serves.
    /// </summary>
    public Task<SubmitResult>[] SubmitOnAsync(
        IServer master, IReadOnlyList<(NewJob Job, IdempotencyClaim? Idempotency)> submissions, long maxQueuedJobs = Unbounded)
    {
        ArgumentNullException.ThrowIfNull(master);
        // Called in order, each sends its script before the next (unless it reads the other partitions first).
        return [.. submissions.Select(s => SubmitOnAsync(master, s.Job, s.Idempotency, maxQueuedJobs))];
    }

    private async Task<SubmitResult> SubmitOnAsync(IServer master, NewJob job, IdempotencyClaim? idempotency, long maxQueuedJobs)
    {
        var others = await OtherPartitionsBacklogAsync(job).ConfigureAwait(false);
        var (keys, values) = SubmitArguments(job, idempotency, maxQueuedJobs, others);
        return SubmitResultOf(await LuaScripts.Submit.EvaluateOnAsync(master, keys, values).ConfigureAwait(false), job);
    }

    /// <summary>
    /// <c>WAIT replicas timeout</c> on <paramref name="master"/>: blocks until <paramref name="replicas"/>
    /// replicas have acknowledged every write this client sent to it, or <paramref name="timeout"/>
    /// passes; returns how many have (possibly fewer than asked). Blocks the connection meanwhile,
    /// so keep <paramref name="timeout"/> short. A master that has become a replica since the writes
    /// (a failover: <c>WAIT</c> is refused there) confirms none of them: the caller answers as for
    /// too few replicas, and the client sends again under its idempotency key.
    /// </summary>
    public async Task<long> WaitForReplicasAsync(IServer master, int replicas, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(master);
        try
        {
            // In a group commit: a reply the client lost must not stop the writes queued behind it.
            return (long)await RedisReply.WithinAsync(
                master.ExecuteAsync("WAIT", replicas, (long)timeout.TotalMilliseconds), timeout + RedisReply.BoundFor(master.Multiplexer)).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("ERR WAIT cannot be used with replica", StringComparison.Ordinal))
        {
            return 0;
        }
    }
}

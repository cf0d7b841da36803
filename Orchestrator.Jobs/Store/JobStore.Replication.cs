using StackExchange.Redis;

namespace Orchestrator.Jobs;

public sealed partial class JobStore
{
    /// <summary>
    /// The masters that hold the slots of these jobs' partitions now (on a single Redis, that
    /// Redis; one master per partition at most). Taken before the writes, so
    /// <see cref="WaitForReplicasAsync"/> goes to the nodes and connections that took them:
    /// <c>WAIT</c> counts the replicas that have this connection's last write, and has no key by
    /// which a cluster client could route it.
    /// </summary>
    public IReadOnlyList<IServer> SubmissionMasters(IEnumerable<string> jobIds) =>
        [.. jobIds.Select(id => _keys.ForJob(id).Partition).Distinct()
            .Select(p => redis.GetServer(_keys.For(p).Stream, flags: CommandFlags.DemandMaster))
            .DistinctBy(static server => server.EndPoint.ToString(), StringComparer.Ordinal)];

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

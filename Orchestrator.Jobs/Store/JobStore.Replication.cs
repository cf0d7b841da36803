using StackExchange.Redis;

namespace Orchestrator.Jobs;

public sealed partial class JobStore
{
    /// <summary>
    /// The master that holds the submissions' slot now (on a single Redis, that Redis). Taken before
    /// the writes, so <see cref="WaitForReplicasAsync"/> goes to the node and connection that took
    /// them: <c>WAIT</c> counts the replicas that have this connection's last write, and has no key
    /// by which a cluster client could route it.
    /// </summary>
    public IServer SubmissionMaster() => redis.GetServer(_keys.Stream, flags: CommandFlags.DemandMaster);

    /// <summary>
    /// <c>WAIT replicas timeout</c> on <paramref name="master"/>: blocks until <paramref name="replicas"/>
    /// replicas have acknowledged every write this client sent to it, or <paramref name="timeout"/>
    /// passes; returns how many have (possibly fewer than asked). Blocks the connection meanwhile,
    /// so keep <paramref name="timeout"/> short.
    /// </summary>
    public async Task<long> WaitForReplicasAsync(IServer master, int replicas, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(master);
        return (long)await master.ExecuteAsync("WAIT", replicas, (long)timeout.TotalMilliseconds).ConfigureAwait(false);
    }
}

using StackExchange.Redis;

namespace Orchestrator.Jobs;

public sealed partial class JobStore
{
    /// <summary>
    /// The partitions whose Redis node did not answer a read of one of their keys within
    /// <paramref name="within"/> (empty: every partition is served). The read goes where the
    /// partition's slot is served now: after a cluster failover, to the promoted replica.
    /// </summary>
    public async Task<IReadOnlyList<(int Partition, string Reason)>> UnansweredPartitionsAsync(TimeSpan within)
    {
        var probes = Enumerable.Range(0, Partitions).Select(async partition =>
        {
            try
            {
                await Db.KeyExistsAsync(_keys.For(partition).Stream).WaitAsync(within).ConfigureAwait(false);
                return ((int Partition, string Reason)?)null;
            }
            catch (TimeoutException)
            {
                return (partition, $"no answer within {within.TotalSeconds:0.#} s");
            }
            // Whatever else the client throws for a node going away is no answer too: a health check that
            // throws is logged with its stack at every probe ("Health check redis threw an unhandled exception").
            catch (Exception e)
            {
                return (partition, e is RedisException ? e.Message : $"{e.GetType().Name}: {e.Message}");
            }
        });
        return [.. (await Task.WhenAll(probes).ConfigureAwait(false)).OfType<(int, string)>()];
    }
}

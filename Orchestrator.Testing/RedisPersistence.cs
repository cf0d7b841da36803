using StackExchange.Redis;

namespace Orchestrator.Testing;

/// <summary>
/// Persistence failing for real, as a full or failing disk makes it: a snapshot that cannot be
/// written, after which Redis refuses every write with MISCONF (<c>stop-writes-on-bgsave-error</c>,
/// on by default) and still serves reads.
/// </summary>
public static class RedisPersistence
{
    private static readonly TimeSpan SaveTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Removes the node's data folder, sets a save point (without one Redis never refuses) and
    /// starts a snapshot, which fails; returns once writes are refused. The folder stays gone (Redis
    /// runs in it and cannot be moved out: <c>dir</c> is a protected setting); end the refusal with
    /// <see cref="StopSavingAsync"/>.
    /// </summary>
    public static async Task BreakAsync(IServer server)
    {
        var folder = (await server.ConfigGetAsync("dir").ConfigureAwait(false)).Single().Value;
        await server.ConfigSetAsync("save", "3600 1").ConfigureAwait(false);
        Directory.Delete(folder, recursive: true);
        await server.SaveAsync(SaveType.BackgroundSave).ConfigureAwait(false);
        await AsyncWait.WaitUntilAsync(async () =>
        {
            var info = (await server.InfoAsync("persistence").ConfigureAwait(false)).SelectMany(group => group).ToDictionary(p => p.Key, p => p.Value);
            return info["rdb_bgsave_in_progress"] == "0" && info["rdb_last_bgsave_status"] == "err";
        }, SaveTimeout, "the snapshot has failed", TimeSpan.FromMilliseconds(20));
    }

    /// <summary>
    /// Drops the save point, as an operator does who will not wait for the disk: Redis then takes
    /// writes again. (A snapshot that succeeds ends the refusal too.)
    /// </summary>
    public static Task StopSavingAsync(IServer server) => server.ConfigSetAsync("save", "");
}

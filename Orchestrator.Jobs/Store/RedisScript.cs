using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>
/// A Lua script sent by its SHA1 (<c>EVALSHA</c>), hashed once. StackExchange.Redis's
/// <c>ScriptEvaluateAsync(string)</c> finds a script's hash by hashing the whole source on every
/// call (tens of kilobytes with the includes): on the hot path that was ~8 % of a worker's CPU.
/// A server without the script in its cache (a restart, a failover, <c>SCRIPT FLUSH</c>) answers
/// NOSCRIPT without running anything, so the source is then sent once (<c>EVAL</c>, which caches it).
/// Until a first call has gone through on a connection, the source is sent the client's way (in
/// the caller's batch, so concurrent calls still run in the order they were sent on a server that
/// never saw the script; a re-send after NOSCRIPT goes out from its own continuation, in any order).
/// </summary>
public sealed class RedisScript(string source)
{
    private static readonly object Sent = new();
    private readonly byte[] _hash = SHA1.HashData(Encoding.UTF8.GetBytes(source));
    // The connections this script has gone through on (a new connection is often a new server).
    private readonly ConditionalWeakTable<IConnectionMultiplexer, object> _sentOn = new();

    /// <summary>The script's text.</summary>
    public string Source { get; } = source;

    /// <summary>
    /// Runs the script, waiting for its reply no longer than <see cref="RedisReply.BoundFor"/>. In a batch (<see cref="IBatch"/>) give <paramref name="resendOn"/>, the
    /// database the source is sent to after a NOSCRIPT: the batch itself is gone by then.
    /// </summary>
    public async Task<RedisResult> EvaluateAsync(IDatabaseAsync db, RedisKey[] keys, RedisValue[]? values = null, IDatabaseAsync? resendOn = null)
    {
        if (db is IBatch && resendOn is null)
        {
            throw new ArgumentException("A script in a batch needs a database to be re-sent on.", nameof(resendOn));
        }

        if (!_sentOn.TryGetValue(db.Multiplexer, out _))
        {
            var first = await RedisReply.WithinAsync(db.ScriptEvaluateAsync(Source, keys, values), RedisReply.BoundFor(db.Multiplexer)).ConfigureAwait(false);
            _sentOn.AddOrUpdate(db.Multiplexer, Sent);
            return first;
        }

        try
        {
            return await RedisReply.WithinAsync(db.ScriptEvaluateAsync(_hash, keys, values), RedisReply.BoundFor(db.Multiplexer)).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (RedisFailure.Classify(e) == RedisFailureKind.NoScript)
        {
            return await RedisReply.WithinAsync((resendOn ?? db).ScriptEvaluateAsync(Source, keys, values), RedisReply.BoundFor(db.Multiplexer)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs the script on <paramref name="server"/> and nowhere else: sent there whatever the client's
    /// slot map says, with <see cref="CommandFlags.NoRedirect"/>, so a node that does not own the keys'
    /// slot answers MOVED (a failure, nothing written) instead of the client following it to another
    /// node. For a caller that must then <c>WAIT</c> on the node that took the write. The hash is sent
    /// first; the source only after a NOSCRIPT. In the connection's database (<c>defaultDatabase</c>):
    /// a server's command names none unless told, and ran in whichever one its connection had last
    /// selected, database 0 after a reconnect, where nothing read the job it wrote.
    /// </summary>
    public async Task<RedisResult> EvaluateOnAsync(IServer server, RedisKey[] keys, RedisValue[] values)
    {
        ArgumentNullException.ThrowIfNull(server);
        var bound = RedisReply.BoundFor(server.Multiplexer);
        var database = server.Multiplexer.GetDatabase().Database;
        try
        {
            return await RedisReply.WithinAsync(server.ExecuteAsync(database, "EVALSHA", Arguments(Convert.ToHexStringLower(_hash), keys, values), CommandFlags.NoRedirect), bound).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (RedisFailure.Classify(e) == RedisFailureKind.NoScript)
        {
            return await RedisReply.WithinAsync(server.ExecuteAsync(database, "EVAL", Arguments(Source, keys, values), CommandFlags.NoRedirect), bound).ConfigureAwait(false);
        }
    }

    // EVAL(SHA) script numkeys key… arg…; keys as RedisKey, so the client checks they share one slot.
    private static object[] Arguments(string script, RedisKey[] keys, RedisValue[] values) =>
        [script, keys.Length, .. keys.Cast<object>(), .. values.Cast<object>()];
}

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
/// Until a first call has gone through, the source is sent the client's way (in the caller's batch,
/// so a batch's scripts still run in their order on a server that never saw them).
/// </summary>
public sealed class RedisScript(string source)
{
    private readonly byte[] _hash = SHA1.HashData(Encoding.UTF8.GetBytes(source));
    private volatile bool _sent;

    /// <summary>The script's text.</summary>
    public string Source { get; } = source;

    /// <summary>
    /// Runs the script. In a batch (<see cref="IBatch"/>) give <paramref name="resendOn"/>, the
    /// database the source is sent to after a NOSCRIPT: the batch itself is gone by then.
    /// </summary>
    public async Task<RedisResult> EvaluateAsync(IDatabaseAsync db, RedisKey[] keys, RedisValue[]? values = null, IDatabaseAsync? resendOn = null)
    {
        if (db is IBatch && resendOn is null)
        {
            throw new ArgumentException("A script in a batch needs a database to be re-sent on.", nameof(resendOn));
        }

        if (!_sent)
        {
            var first = await db.ScriptEvaluateAsync(Source, keys, values).ConfigureAwait(false);
            _sent = true;
            return first;
        }

        try
        {
            return await db.ScriptEvaluateAsync(_hash, keys, values).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (RedisFailure.Classify(e) == RedisFailureKind.NoScript)
        {
            return await (resendOn ?? db).ScriptEvaluateAsync(Source, keys, values).ConfigureAwait(false);
        }
    }
}

using System.Globalization;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

public sealed partial class JobStore
{
    /// <summary>The only <c>maxmemory-policy</c> the job system runs on: at the limit, writes are refused, nothing is evicted.</summary>
    public const string NoEviction = "noeviction";

    /// <summary>
    /// The <c>maxmemory-policy</c> of every connected primary (a Redis Cluster has several, each with
    /// its own configuration; a single Redis, one): the first that evicts, else the first found, else
    /// why none could be read. Each server is read with <c>CONFIG GET</c>, or with <c>INFO memory</c>
    /// where a provider disables or renames <c>CONFIG</c>. Connection failures propagate.
    /// </summary>
    public async Task<MaxMemoryPolicy> GetMaxMemoryPolicyAsync()
    {
        var primaries = Primaries().ToList();
        if (primaries.Count == 0)
        {
            // Nothing connected yet: a keyless command routes to whichever node comes, or fails as unreachable.
            return await PolicyOfAsync((command, args) => Db.ExecuteAsync(command, args), endpoint: null).ConfigureAwait(false);
        }

        MaxMemoryPolicy? first = null;
        foreach (var server in primaries)
        {
            var found = await PolicyOfAsync((command, args) => server.ExecuteAsync(command, args), server.EndPoint).ConfigureAwait(false);
            if (found.Evicts)
            {
                return found;
            }

            first ??= found;
        }

        return first!;
    }

    /// <summary>
    /// How full each connected primary's memory is (<c>used_memory</c> of <c>maxmemory</c>, from
    /// <c>INFO memory</c>), for those that answer within <paramref name="within"/> and have a limit.
    /// A node that does not answer, or will not say (<c>INFO</c> disabled by a provider), is left
    /// out: whether it answers is the partitions check's to say.
    /// </summary>
    public async Task<IReadOnlyList<MemoryUse>> MemoryUseAsync(TimeSpan within)
    {
        var reads = Primaries().Select(async server =>
        {
            try
            {
                var info = (string?)await server.ExecuteAsync("INFO", "memory").WaitAsync(within).ConfigureAwait(false) ?? string.Empty;
                return long.TryParse(InfoField(info, "used_memory"), CultureInfo.InvariantCulture, out var used)
                    && long.TryParse(InfoField(info, "maxmemory"), CultureInfo.InvariantCulture, out var max) && max > 0
                    ? new MemoryUse(NodeName(server.EndPoint)!, used, max)
                    : null;
            }
            catch (Exception e) when (e is TimeoutException or RedisException)
            {
                return null;
            }
        });
        return [.. (await Task.WhenAll(reads).ConfigureAwait(false)).OfType<MemoryUse>()];
    }

    /// <summary>The value of <paramref name="field"/> in an <c>INFO</c> reply (<c>field:value</c> lines), or null.</summary>
    private static string? InfoField(string info, string field)
    {
        foreach (var line in info.Split('\n'))
        {
            if (line.Length > field.Length && line[field.Length] == ':' && line.StartsWith(field, StringComparison.Ordinal))
            {
                return line[(field.Length + 1)..].Trim();
            }
        }

        return null;
    }

    /// <summary>The connected primaries: each master of a Redis Cluster, or the one Redis.</summary>
    private IEnumerable<IServer> Primaries() => redis.GetServers().Where(static s => s.IsConnected && !s.IsReplica);

    /// <summary>
    /// One setting (<c>CONFIG GET</c>), or null when the server answers none. <c>CONFIG</c> as a plain
    /// command: the client's own <c>ConfigGet</c> asks for its admin mode.
    /// </summary>
    private static async Task<string?> ConfigOfAsync(Func<string, object[], Task<RedisResult>> execute, string setting)
    {
        var reply = (RedisResult[])(await execute("CONFIG", ["GET", setting]).ConfigureAwait(false))!;
        return reply.Length == 2 ? (string?)reply[1] : null;
    }

    private static string? NodeName(System.Net.EndPoint? endpoint) => endpoint switch
    {
        null => null,
        System.Net.DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        _ => endpoint.ToString(),
    };

    private static async Task<MaxMemoryPolicy> PolicyOfAsync(Func<string, object[], Task<RedisResult>> execute, System.Net.EndPoint? endpoint)
    {
        var node = NodeName(endpoint);
        string configError;
        try
        {
            if (await ConfigOfAsync(execute, "maxmemory-policy").ConfigureAwait(false) is { } policy)
            {
                return new MaxMemoryPolicy(policy, null, node);
            }

            configError = "CONFIG GET maxmemory-policy answered nothing";
        }
        catch (RedisServerException e)
        {
            // ERR unknown command (disabled or renamed by a managed provider), NOPERM (an ACL user).
            configError = e.Message;
        }

        try
        {
            var info = (string?)await execute("INFO", ["memory"]).ConfigureAwait(false) ?? string.Empty;
            return InfoField(info, "maxmemory_policy") is { } policy
                ? new MaxMemoryPolicy(policy, null, node)
                : new MaxMemoryPolicy(null, $"{configError}; INFO memory has no maxmemory_policy", node);
        }
        catch (RedisServerException e)
        {
            return new MaxMemoryPolicy(null, $"{configError}; INFO: {e.Message}", node);
        }
    }
}

/// <summary>What <see cref="JobStore.GetMaxMemoryPolicyAsync"/> found.</summary>
/// <param name="Policy">The policy, or null when the server would not say.</param>
/// <param name="Unreadable">Why the policy could not be read, when it could not.</param>
/// <param name="Node">The server it was read from (host:port), when known.</param>
public sealed record MaxMemoryPolicy(string? Policy, string? Unreadable, string? Node = null)
{
    /// <summary>Whether Redis may evict keys at its memory limit (any policy but <c>noeviction</c>).</summary>
    public bool Evicts => Policy is not null && !string.Equals(Policy, JobStore.NoEviction, StringComparison.OrdinalIgnoreCase);
}

/// <summary>What <see cref="JobStore.MemoryUseAsync"/> read from one primary.</summary>
/// <param name="Node">The server (host:port).</param>
/// <param name="Used">Its <c>used_memory</c>, in bytes.</param>
/// <param name="Max">Its <c>maxmemory</c>, in bytes (above 0).</param>
public sealed record MemoryUse(string Node, long Used, long Max)
{
    /// <summary><see cref="Used"/> as a share of <see cref="Max"/> (1 = at the limit).</summary>
    public double Share => (double)Used / Max;
}

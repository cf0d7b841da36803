using StackExchange.Redis;

namespace Orchestrator.Jobs;

public sealed partial class JobStore
{
    /// <summary>
    /// The connected primaries that persist nothing: no append-only file (<c>appendonly no</c>) and
    /// no snapshot point (<c>save ""</c>), so a restart of that node loses every job it held. A node
    /// whose provider disables <c>CONFIG</c> is not named (nothing says either way). Connection
    /// failures propagate.
    /// </summary>
    public async Task<IReadOnlyList<string>> NodesWithoutPersistenceAsync()
    {
        var none = new List<string>();
        foreach (var server in redis.GetServers().Where(static s => s.IsConnected && !s.IsReplica))
        {
            try
            {
                if (string.Equals(await ConfigOfAsync(server, "appendonly").ConfigureAwait(false), "no", StringComparison.OrdinalIgnoreCase)
                    && await ConfigOfAsync(server, "save").ConfigureAwait(false) is { Length: 0 })
                {
                    none.Add(NodeName(server.EndPoint)!);
                }
            }
            catch (RedisServerException)
            {
                // CONFIG disabled or renamed (a managed provider's): its persistence is the provider's to say.
            }
        }

        return none;
    }

    /// <summary>One setting of <paramref name="server"/>, or null. <c>CONFIG</c> as a plain command, as the policy is read: the client's own <c>ConfigGet</c> asks for its admin mode.</summary>
    private static async Task<string?> ConfigOfAsync(IServer server, string setting)
    {
        var reply = (RedisResult[])(await server.ExecuteAsync("CONFIG", "GET", setting).ConfigureAwait(false))!;
        return reply.Length == 2 ? (string?)reply[1] : null;
    }
}

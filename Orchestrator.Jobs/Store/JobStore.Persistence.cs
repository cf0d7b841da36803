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
        foreach (var server in Primaries())
        {
            Task<RedisResult> Execute(string command, object[] args) => server.ExecuteAsync(command, args);
            try
            {
                if (string.Equals(await ConfigOfAsync(Execute, "appendonly").ConfigureAwait(false), "no", StringComparison.OrdinalIgnoreCase)
                    && await ConfigOfAsync(Execute, "save").ConfigureAwait(false) is { Length: 0 })
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
}

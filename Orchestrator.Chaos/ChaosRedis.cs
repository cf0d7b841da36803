using Orchestrator.Jobs;
using Orchestrator.Testing;
using StackExchange.Redis;

namespace Orchestrator.Chaos;

/// <summary>
/// The run's Redis: one <c>redis-server</c> (AOF, the default), or with <c>--cluster</c> a local
/// Redis Cluster of 3 masters and 3 replicas with <c>Jobs:Partitions</c> 6 placed two per master.
/// </summary>
internal sealed class ChaosRedis : IAsyncDisposable
{
    /// <summary>The partitions of a cluster run (two per master).</summary>
    public const int ClusterPartitions = 6;

    private ChaosRedis(RedisServer? server, RedisCluster? cluster, RedisKeys keys)
    {
        Server = server;
        Cluster = cluster;
        Keys = keys;
    }

    /// <summary>The one server (null in a cluster run).</summary>
    public RedisServer? Server { get; }

    /// <summary>The cluster (null in a single-server run).</summary>
    public RedisCluster? Cluster { get; }

    /// <summary>The services' key layout (<c>Jobs:Partitions</c>).</summary>
    public RedisKeys Keys { get; }

    public string ConnectionString => Server?.ConnectionString ?? Cluster!.ConnectionString;

    /// <summary>Every redis-server process ever started, for the no-process-left-behind check.</summary>
    public IEnumerable<int> StartedPids => Server?.StartedPids ?? Cluster!.Nodes.SelectMany(n => n.StartedPids);

    public string Describe() => Server is { } server
        ? $"redis on {server.Port}"
        : $"redis cluster on {string.Join(',', Cluster!.Nodes.Select(n => n.Port))}, {ClusterPartitions} partitions";

    public static async Task<ChaosRedis> StartAsync(ChaosOptions options, string output)
    {
        if (!options.Cluster)
        {
            var server = RedisServer.Create(new RedisServerOptions
            {
                AppendOnly = true,
                DataPath = Path.Combine(output, "redis"),
                LogPath = Path.Combine(output, "redis.log"),
                LogLevel = "notice",
            });
            var single = new ChaosRedis(server, null, new RedisKeys());
            await server.StartAsync();
            return single;
        }

        Directory.CreateDirectory(Path.Combine(output, "redis"));
        var cluster = await RedisCluster.StartAsync(new RedisClusterOptions
        {
            Masters = 3,
            ReplicasPerMaster = 1,
            NodeTimeout = TimeSpan.FromSeconds(2),
            LogFolder = Path.Combine(output, "redis"),
        });
        var keys = new RedisKeys(partitions: ClusterPartitions);
        await cluster.PlaceSlotsAsync([.. keys.All.Select(k => k.Stream)]);
        return new ChaosRedis(null, cluster, keys);
    }

    public Task<ConnectionMultiplexer> ConnectAsync(string options) =>
        ConnectionMultiplexer.ConnectAsync($"{ConnectionString},{options}");

    public async Task StopAsync()
    {
        foreach (var node in Server is { } server ? [server] : Cluster!.RunningNodes.ToList())
        {
            await node.StopAsync();
        }
    }

    /// <summary>Kills what runs, at once (Ctrl+C, a test's timeout).</summary>
    public void Kill()
    {
        if (Server is { } server)
        {
            server.Dispose();
        }
        else
        {
            foreach (var node in Cluster!.Nodes)
            {
                node.Dispose();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Server is { } server)
        {
            await server.DisposeAsync();
        }
        else
        {
            await Cluster!.DisposeAsync();
        }
    }
}

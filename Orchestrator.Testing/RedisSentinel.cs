using System.Globalization;
using StackExchange.Redis;

namespace Orchestrator.Testing;

/// <summary>
/// A real Redis Sentinel (<c>redis-server sentinel.conf --sentinel</c>) on a loopback port, watching
/// one master as <see cref="ServiceName"/>; with a quorum of one it alone fails the master over: a
/// master that does not answer for <see cref="DownAfter"/> is replaced by its replica.
/// Disposing kills it and deletes its folder (Sentinel rewrites its configuration file as it learns).
/// </summary>
public sealed class RedisSentinel : IAsyncDisposable
{
    /// <summary>The name the master is watched as (a connection string's <c>serviceName=</c>).</summary>
    public const string ServiceName = "orch";

    /// <summary>How long the master must not answer before the sentinel fails it over.</summary>
    public static readonly TimeSpan DownAfter = TimeSpan.FromSeconds(1);

    private readonly string _folder;
    private readonly ChildProcess _process;

    private RedisSentinel(string folder, int port, ChildProcess process)
    {
        _folder = folder;
        Port = port;
        _process = process;
    }

    /// <summary>The sentinel's port.</summary>
    public int Port { get; }

    /// <summary>A StackExchange.Redis connection string through this sentinel to the master it names.</summary>
    public string ConnectionString => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)},serviceName={ServiceName}";

    /// <summary>
    /// Starts a sentinel watching <paramref name="master"/> (failing it over when <paramref name="quorum"/>
    /// sentinels agree it is down) and waits until it knows <paramref name="replicas"/> replicas of it.
    /// </summary>
    public static async Task<RedisSentinel> StartAsync(RedisServer master, int replicas, int quorum = 1, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(master);
        var folder = Directory.CreateTempSubdirectory("orchestrator-sentinel-").FullName;
        var port = LoopbackPort.Next();
        var config = Path.Combine(folder, "sentinel.conf");
        await File.WriteAllLinesAsync(config,
        [
            $"port {port.ToString(CultureInfo.InvariantCulture)}",
            "bind 127.0.0.1",
            $"dir {folder}",
            $"sentinel monitor {ServiceName} 127.0.0.1 {master.Port.ToString(CultureInfo.InvariantCulture)} {quorum.ToString(CultureInfo.InvariantCulture)}",
            $"sentinel down-after-milliseconds {ServiceName} {DownAfter.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}",
            $"sentinel failover-timeout {ServiceName} 5000",
        ], cancellationToken).ConfigureAwait(false);
        var process = ChildProcess.Start(new ChildProcessOptions
        {
            Name = $"redis-sentinel:{port.ToString(CultureInfo.InvariantCulture)}",
            FileName = "redis-server",
            Arguments = [config, "--sentinel"],
            WorkingDirectory = folder,
        });
        var sentinel = new RedisSentinel(folder, port, process);
        try
        {
            await sentinel.WaitUntilAsync(async server => (await server.SentinelReplicasAsync(ServiceName).ConfigureAwait(false)).Length >= replicas,
                TimeSpan.FromSeconds(30), $"the sentinel knows {replicas} replica(s)", cancellationToken).ConfigureAwait(false);
            return sentinel;
        }
        catch
        {
            await sentinel.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Waits until the sentinel names a master other than <paramref name="formerPort"/>.</summary>
    public Task WaitForNewMasterAsync(int formerPort, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        WaitUntilAsync(async server => await server.SentinelGetMasterAddressByNameAsync(ServiceName).ConfigureAwait(false) is System.Net.IPEndPoint master
            && master.Port != formerPort, timeout, "the sentinel names a new master", cancellationToken);

    /// <summary>The last part of the sentinel's log, for failure messages.</summary>
    public string Tail(int chars = 20_000) => _process.Tail(chars);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync().ConfigureAwait(false);
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A temp folder left behind is harmless.
        }
    }

    private Task WaitUntilAsync(Func<IServer, Task<bool>> condition, TimeSpan timeout, string because, CancellationToken cancellationToken) =>
        AsyncWait.UntilAsync(async () =>
        {
            try
            {
                await using var connection = await ConnectionMultiplexer.ConnectAsync(new ConfigurationOptions
                {
                    EndPoints = { { "127.0.0.1", Port } },
                    CommandMap = CommandMap.Sentinel,
                    AbortOnConnectFail = false,
                    ConnectTimeout = 2000,
                }).ConfigureAwait(false);
                return await condition(connection.GetServer("127.0.0.1", Port)).ConfigureAwait(false);
            }
            catch (RedisException)
            {
                return false; // not answering yet
            }
        }, timeout, because, () => Task.FromResult(Tail()), cancellationToken);
}

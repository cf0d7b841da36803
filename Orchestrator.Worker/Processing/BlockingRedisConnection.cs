using StackExchange.Redis;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// A second Redis connection used only for the blocking <c>XREADGROUP … BLOCK</c>. A blocking
/// command holds its connection until it returns, so it must never run on the shared multiplexer.
/// </summary>
internal sealed class BlockingRedisConnection(IConfiguration configuration, Microsoft.Extensions.Options.IOptions<WorkerOptions> options) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ConnectionMultiplexer? _connection;

    public async Task<IConnectionMultiplexer> GetAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_connection is null)
            {
                var connectionString = configuration.GetConnectionString("redis")
                    ?? throw new InvalidOperationException("ConnectionStrings:redis is not set.");
                var config = ConfigurationOptions.Parse(connectionString);
                config.AbortOnConnectFail = false;
                config.ClientName = "orchestrator-worker-reader";
                config.SocketManager = SocketManager.ThreadPool; // as the shared connection (Program.cs)
                // Longer than the BLOCK time, or every idle read would count as a timeout.
                config.AsyncTimeout = config.SyncTimeout = (int)(options.Value.PollTimeout + TimeSpan.FromSeconds(5)).TotalMilliseconds;
                _connection = await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
            }

            return _connection;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        _gate.Dispose();
    }
}

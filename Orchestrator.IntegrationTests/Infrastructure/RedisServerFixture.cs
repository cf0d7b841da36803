namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// One <see cref="RedisServer"/> (no persistence) shared by the tests of the <c>redis</c>
/// collection. Tests that stop it must start it again; tests that need their own server (or
/// persistence) create one with <see cref="RedisServer.StartAsync(RedisServerOptions?, CancellationToken)"/>.
/// </summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    private RedisServer? _server;

    /// <summary>The running server.</summary>
    public RedisServer Server => _server ?? throw new InvalidOperationException("The fixture is not initialized.");

    /// <inheritdoc cref="RedisServer.ConnectionString"/>
    public string ConnectionString => Server.ConnectionString;

    /// <inheritdoc cref="RedisServer.Port"/>
    public int Port => Server.Port;

    /// <inheritdoc cref="RedisServer.StopAsync"/>
    public Task StopAsync(CancellationToken cancellationToken = default) => Server.StopAsync(cancellationToken);

    /// <inheritdoc cref="RedisServer.StartAsync(CancellationToken)"/>
    public Task StartAsync(CancellationToken cancellationToken = default) => Server.StartAsync(cancellationToken);

    /// <inheritdoc cref="RedisServer.FlushAsync"/>
    public Task FlushAsync(CancellationToken cancellationToken = default) => Server.FlushAsync(cancellationToken);

    /// <inheritdoc />
    public async ValueTask InitializeAsync() => _server = await RedisServer.StartAsync();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>Tests that share one real Redis server; they run one at a time.</summary>
[CollectionDefinition("redis")]
public sealed class RedisCollection : ICollectionFixture<RedisServerFixture>;

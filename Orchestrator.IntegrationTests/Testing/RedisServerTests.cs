using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Testing;

/// <summary>The outage simulation other tests rely on: stop, then start again on the same port.</summary>
public sealed class RedisServerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task StopThenStart_AppendOnly_KeepsKeysOnSamePort()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var server = await RedisServer.StartAsync(new RedisServerOptions { AppendOnly = true }, cancellationToken);
        var port = server.Port;
        await SetAsync(server, "greeting", "hello");

        await server.StopAsync(cancellationToken);
        var refusedWhileStopped = !await CanConnectAsync(server);
        await server.StartAsync(cancellationToken);

        Assert.True(refusedWhileStopped);
        Assert.Equal(port, server.Port);
        Assert.Equal("hello", await GetAsync(server, "greeting"));
    }

    [Fact]
    public async Task StopThenStart_Default_StartsEmpty()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var server = await RedisServer.StartAsync(cancellationToken: cancellationToken);
        await SetAsync(server, "greeting", "hello");

        await server.StopAsync(cancellationToken);
        await server.StartAsync(cancellationToken);

        Assert.Null(await GetAsync(server, "greeting"));
    }

    [Fact]
    public async Task Flush_RemovesEveryKey()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var server = await RedisServer.StartAsync(cancellationToken: cancellationToken);
        await SetAsync(server, "greeting", "hello");

        await server.FlushAsync(cancellationToken);

        Assert.Null(await GetAsync(server, "greeting"));
    }

    private static async Task SetAsync(RedisServer server, string key, string value)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString).WaitAsync(Timeout, TestContext.Current.CancellationToken);
        await redis.GetDatabase().StringSetAsync(key, value).WaitAsync(Timeout, TestContext.Current.CancellationToken);
    }

    private static async Task<string?> GetAsync(RedisServer server, string key)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString).WaitAsync(Timeout, TestContext.Current.CancellationToken);
        return await redis.GetDatabase().StringGetAsync(key).WaitAsync(Timeout, TestContext.Current.CancellationToken);
    }

    private static async Task<bool> CanConnectAsync(RedisServer server)
    {
        try
        {
            await using var redis = await ConnectionMultiplexer.ConnectAsync($"{server.ConnectionString},connectTimeout=1000,connectRetry=0");
            return redis.IsConnected;
        }
        catch (RedisConnectionException)
        {
            return false;
        }
    }
}

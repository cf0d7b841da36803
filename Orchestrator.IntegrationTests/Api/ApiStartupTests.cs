using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// Regression (found by the chaos run): the API connected to Redis lazily, inside its first
/// requests. The Redis client connects synchronously, so an API restarted under load blocked
/// thread-pool threads until the pool starved: ~10 s of hung requests and 503s with Redis up.
/// The API now connects while it starts, before it takes requests.
/// </summary>
public sealed class ApiStartupTests
{
    [Fact]
    public async Task Startup_ConnectsToRedisBeforeTheFirstRequest()
    {
        await using var api = new ApiFactory();
        await api.InitializeAsync();
        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{api.RedisServer.ConnectionString},allowAdmin=true")
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        var before = (await server.ClientListAsync().WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken)).Length;

        // Starts the host; no request is sent.
        _ = api.Server;

        // Connect (sync) has returned by the time the host has started: no wait is needed, and
        // without the eager connect no connection would ever appear here.
        var after = (await server.ClientListAsync().WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken)).Length;
        Assert.True(after > before, $"Redis saw {before} client connection(s) before the API started and {after} after: the API did not connect at start-up.");
    }
}

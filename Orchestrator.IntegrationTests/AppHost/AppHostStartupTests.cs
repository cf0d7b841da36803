using System.Net;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.AppHost;

[Collection("apphost")]
public sealed class AppHostStartupTests(AppHostFixture fixture)
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("/health")]
    [InlineData("/alive")]
    public async Task Start_LocalRedis_ApiHealthEndpointReturns200(string path)
    {
        using var client = fixture.CreateHttpClient("api");

        var cancellationToken = TestContext.Current.CancellationToken;

        using var response = await client.GetAsync(path, cancellationToken).WaitAsync(RequestTimeout, cancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("/health")]
    [InlineData("/alive")]
    public async Task Start_LocalRedis_WorkerHealthEndpointReturns200(string path)
    {
        using var client = fixture.CreateHttpClient("worker");

        var cancellationToken = TestContext.Current.CancellationToken;

        using var response = await client.GetAsync(path, cancellationToken).WaitAsync(RequestTimeout, cancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>The jobs page runs beside the dashboard, healthy, and serves its page (which then calls the API).</summary>
    [Fact]
    public async Task Start_LocalRedis_JobsPageIsServed()
    {
        using var client = fixture.CreateHttpClient("web");
        var cancellationToken = TestContext.Current.CancellationToken;

        using var health = await client.GetAsync("/health", cancellationToken).WaitAsync(RequestTimeout, cancellationToken);
        using var page = await client.GetAsync("/", cancellationToken).WaitAsync(RequestTimeout, cancellationToken);

        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("_framework/blazor.web.js", await page.Content.ReadAsStringAsync(cancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_LocalRedis_ServicesGetLoopbackConnectionString()
    {
        var connectionString = await fixture.GetRedisConnectionStringAsync(TestContext.Current.CancellationToken);

        Assert.StartsWith("localhost:", connectionString, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_LocalRedis_RunsAppendOnlyWithMaxMemoryAndNoEviction()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var connectionString = await fixture.GetRedisConnectionStringAsync(cancellationToken);
        await using var redis = await ConnectionMultiplexer.ConnectAsync($"{connectionString},allowAdmin=true").WaitAsync(RequestTimeout, cancellationToken);
        var server = redis.GetServer(redis.GetEndPoints().Single());

        var config = (await server.ConfigGetAsync("*").WaitAsync(RequestTimeout, cancellationToken)).ToDictionary(p => p.Key, p => p.Value);

        Assert.Equal("noeviction", config["maxmemory-policy"]);
        Assert.Equal((1024L * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture), config["maxmemory"]);
        Assert.Equal("yes", config["appendonly"]);
        Assert.Equal("everysec", config["appendfsync"]);
        Assert.Equal("", config["save"]);
    }
}

using System.Net;

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

    [Fact]
    public async Task Start_LocalRedis_ServicesGetLoopbackConnectionString()
    {
        var connectionString = await fixture.GetRedisConnectionStringAsync(TestContext.Current.CancellationToken);

        Assert.StartsWith("localhost:", connectionString, StringComparison.Ordinal);
    }
}

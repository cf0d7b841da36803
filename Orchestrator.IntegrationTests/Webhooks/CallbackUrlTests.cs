using System.Net;
using System.Net.Http.Json;

namespace Orchestrator.IntegrationTests.Webhooks;

/// <summary>
/// The SSRF rules on <c>callbackUrl</c> in a real API process with <c>Webhooks:AllowPrivateNetworks</c>
/// off (the default): loopback targets, by address or by a name that resolves to one, and plain
/// <c>http</c> are refused with a 400 naming the field, without the address a name resolves to;
/// nothing is stored.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class CallbackUrlTests
{
    [Fact]
    public async Task CallbackUrl_ToLoopbackOrOverHttp_WithoutAllowPrivateNetworks_Returns400NamingIt()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var redis = await RedisServer.StartAsync(cancellationToken: ct);
        await using var api = await ApiProcess.StartAsync(redis.ConnectionString, TenantApiFactory.AuthSettings);
        using var client = api.CreateClient(TenantApiFactory.KeyA);

        foreach (var url in new[]
        {
            "https://127.0.0.1/hooks",
            "https://[::1]/hooks",
            "https://localhost/hooks",
            "https://127.1.2.3:8443/hooks",
            "https://[::ffff:127.0.0.1]/hooks",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/hooks",
            "http://example.com/hooks",
            "ftp://example.com/hooks",
            "/relative/hooks",
            "https://" + new string('a', 2_100) + ".example/",
        })
        {
            using var response = await client.PostAsJsonAsync("/jobs", new { prompt = "Say hello.", callbackUrl = url }, ct);
            await ProblemAssert.IsProblemNamingAsync(response, HttpStatusCode.BadRequest, "callbackUrl");
            if (url == "https://localhost/hooks")
            {
                // The name's address is not said: any tenant could map the API's internal names to addresses.
                var detail = await response.Content.ReadAsStringAsync(ct);
                Assert.DoesNotContain("127.0.0.1", detail, StringComparison.Ordinal);
                Assert.DoesNotContain("::1", detail, StringComparison.Ordinal);
            }
        }

        using var redisClient = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        Assert.Equal(0, (long)await redisClient.GetDatabase().HashGetAsync(new Orchestrator.Jobs.RedisKeys().DispatchState, "ready"));
    }
}

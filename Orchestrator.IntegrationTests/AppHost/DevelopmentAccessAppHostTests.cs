using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;

namespace Orchestrator.IntegrationTests.AppHost;

/// <summary>
/// The AppHost's local run (issue 16): the API process accepts anonymous requests as tenant
/// <c>default</c>, and the generated <c>dev-api-key</c> parameter is a key of tenant <c>dev</c>.
/// Real API and worker processes started by the AppHost.
/// </summary>
[Collection("apphost")]
public sealed class DevelopmentAccessAppHostTests(AppHostFixture fixture)
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task DevKey_ActsAsTenantDev_AnonymousAsDefault_WrongKeyIs401()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var parameter = fixture.App.Services.GetRequiredService<DistributedApplicationModel>().Resources
            .OfType<ParameterResource>().Single(r => r.Name == "dev-api-key");
        var devKey = await parameter.GetValueAsync(cancellationToken).AsTask().WaitAsync(RequestTimeout, cancellationToken);
        Assert.False(string.IsNullOrEmpty(devKey));
        using var dev = fixture.CreateHttpClient("api");
        dev.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", devKey);
        using var anonymous = fixture.CreateHttpClient("api");
        using var wrong = fixture.CreateHttpClient("api");
        wrong.DefaultRequestHeaders.Add("x-api-key", devKey + "-not");

        var devJob = await SubmitAsync(dev);
        var anonymousJob = await SubmitAsync(anonymous);

        Assert.Equal(HttpStatusCode.OK, await StatusAsync(dev, $"/jobs/{devJob}"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(anonymous, $"/jobs/{anonymousJob}"));
        // Two tenants: neither sees the other's job.
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(anonymous, $"/jobs/{devJob}"));
        Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(dev, $"/jobs/{anonymousJob}"));
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusAsync(wrong, $"/jobs/{devJob}"));
    }

    [Fact]
    public async Task AnonymousLocalApi_AnswersLoopbackNamesOnly()
    {
        // Open to anonymous callers: a page elsewhere that rebinds its own name to 127.0.0.1 (DNS
        // rebinding) must not reach it under that name.
        var cancellationToken = TestContext.Current.CancellationToken;
        using var client = fixture.CreateHttpClient("api");
        using var rebound = new HttpRequestMessage(HttpMethod.Get, "/jobs");
        rebound.Headers.Host = $"rebind.attacker.example:{client.BaseAddress!.Port}";

        using var refused = await client.SendAsync(rebound, cancellationToken).WaitAsync(RequestTimeout, cancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(client, "/jobs"));
    }

    private static async Task<string> SubmitAsync(HttpClient client)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var content = new StringContent("""{"prompt":"Whose job am I?"}""", Encoding.UTF8, "application/json");
        using var response = await client.PostAsync("/jobs", content, cancellationToken).WaitAsync(RequestTimeout, cancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        return json.RootElement.GetProperty("jobId").GetString()!;
    }

    private static async Task<HttpStatusCode> StatusAsync(HttpClient client, string path)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var response = await client.GetAsync(path, cancellationToken).WaitAsync(RequestTimeout, cancellationToken);
        return response.StatusCode;
    }
}

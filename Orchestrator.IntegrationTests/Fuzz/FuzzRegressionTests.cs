using System.Net;
using Orchestrator.Jobs;
using Orchestrator.IntegrationTests.Api;

namespace Orchestrator.IntegrationTests.Fuzz;

/// <summary>Bugs the fuzzer found, each pinned by the request that showed it.</summary>
public sealed class FuzzRegressionTests(ApiFactory api) : IClassFixture<ApiFactory>, IAsyncLifetime
{
    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// An escaped lone surrogate in a property name ("\ud800" as a metadata key, or as a top-level
    /// name) made <c>JsonProperty.Name</c> throw: a 500 instead of a 400.
    /// </summary>
    [Theory]
    [InlineData("""{"prompt":"ok","metadata":{"\ud800":"v"}}""", "metadata")]
    [InlineData("""{"prompt":"ok","metadata":{"\ud800\u0041":"v"}}""", "metadata")]
    [InlineData("""{"prompt":"ok","metadata":{"k\udc00":"v"}}""", "metadata")]
    [InlineData("""{"\ud800":"x","prompt":"ok"}""", "body")]
    public async Task Submit_LoneSurrogateInPropertyName_Returns400Problem(string body, string field)
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(body));

        await ProblemAssert.IsProblemNamingAsync(response, HttpStatusCode.BadRequest, field);
        Assert.Equal(0, (long)await api.Redis.GetDatabase().HashGetAsync(new RedisKeys().DispatchState, "ready")
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
    }
}

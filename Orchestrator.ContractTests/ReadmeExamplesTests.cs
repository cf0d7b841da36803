using Microsoft.Kiota.Abstractions;
using Microsoft.Kiota.Abstractions.Authentication;
using Microsoft.Kiota.Http.HttpClientLibrary;
using Microsoft.Kiota.Http.HttpClientLibrary.Middleware.Options;
using Orchestrator.ContractTests.Generated;
using Orchestrator.ContractTests.Generated.Models;

namespace Orchestrator.ContractTests;

/// <summary>
/// The README's examples, made with a client Kiota generated from <c>docs/openapi.json</c> and nothing
/// else: if the document and the API part ways, this does not compile or does not pass.
/// </summary>
public sealed class ReadmeExamplesTests(ApiProcessFixture api) : IClassFixture<ApiProcessFixture>
{
    // The key in x-api-key, one of the document's security schemes (Kiota's own API-key provider insists on https).
    private readonly ContractClient _client = new(new HttpClientRequestAdapter(new AnonymousAuthenticationProvider(), httpClient: WithApiKey(api.ApiKey)) { BaseUrl = api.Address.ToString().TrimEnd('/') });

    private static HttpClient WithApiKey(string key)
    {
        var client = KiotaClientFactory.Create();
        client.DefaultRequestHeaders.Add("x-api-key", key);
        return client;
    }

    [Fact]
    public async Task SubmitWithKey_ReplaySameBody_422OtherBody_ThenGetTheJob()
    {
        var ct = TestContext.Current.CancellationToken;
        var key = $"unique-{Guid.NewGuid():N}";
        var body = new SubmitJobRequest { Prompt = "Explain distributed systems" };

        var first = await _client.Jobs.PostAsync(body, c => c.Headers.Add("x-idempotency-key", key), ct);
        var replay = new HeadersInspectionHandlerOption { InspectResponseHeaders = true };
        var second = await _client.Jobs.PostAsync(body, c => { c.Headers.Add("x-idempotency-key", key); c.Options.Add(replay); }, ct);
        var conflict = await Assert.ThrowsAsync<ProblemDetails>(() =>
            _client.Jobs.PostAsync(new SubmitJobRequest { Prompt = "Something else" }, c => c.Headers.Add("x-idempotency-key", key), ct));
        var job = await _client.Jobs[first!.JobId].GetAsync(cancellationToken: ct);

        Assert.Equal(22, first.JobId!.Length);
        Assert.Equal(first.JobId, second!.JobId);
        Assert.Equal(first.CreatedAt, second.CreatedAt);
        Assert.Equal("true", Assert.Single(replay.ResponseHeaders["Idempotent-Replayed"]));
        Assert.Equal(422, conflict.ResponseStatusCode);
        Assert.Equal(422, conflict.Status);
        Assert.Equal("Explain distributed systems", job!.Prompt);
        Assert.Equal(JobResource_status.Queued, job.Status);
        Assert.Equal(first.CreatedAt, job.CreatedAt);
    }

    [Fact]
    public async Task InvalidSubmission_UnknownJob_BadLimit_AreTypedProblems()
    {
        var ct = TestContext.Current.CancellationToken;

        var invalid = await Assert.ThrowsAsync<HttpValidationProblemDetails>(() =>
            _client.Jobs.PostAsync(new SubmitJobRequest { Prompt = "ok", MaxTokens = 0 }, cancellationToken: ct));
        var missing = await Assert.ThrowsAsync<ProblemDetails>(() => _client.Jobs[new string('A', 22)].GetAsync(cancellationToken: ct));
        var badLimit = await Assert.ThrowsAsync<ProblemDetails>(() => _client.DeadLetters.GetAsync(c => c.QueryParameters.Limit = 0, ct));

        Assert.Equal(400, invalid.ResponseStatusCode);
        Assert.True(invalid.Errors!.AdditionalData.ContainsKey("maxTokens"));
        Assert.False(string.IsNullOrEmpty(invalid.TraceId));
        Assert.Equal(404, missing.ResponseStatusCode);
        Assert.Equal(400, badLimit.ResponseStatusCode);
    }

    [Fact]
    public async Task DeadLetters_FirstPage_IsAPage()
    {
        var page = await _client.DeadLetters.GetAsync(c => c.QueryParameters.Limit = 20, TestContext.Current.CancellationToken);

        Assert.NotNull(page!.Items);
        Assert.Null(page.NextCursor);
    }
}

using System.Net;
using System.Text.Json;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Api;

/// <summary><c>POST /jobs</c> with an idempotency key: one job per key, replays byte for byte, conflicts 422.</summary>
public sealed class SubmitJobIdempotencyTests(ApiFactory api) : IClassFixture<ApiFactory>, IAsyncLifetime
{
    private const string Body = """{"prompt":"Summarise the idempotency RFC.","model":"sim-1","maxTokens":64,"metadata":{"a":"1","b":"2"}}""";

    private readonly RedisKeys _keys = new();

    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Submit_50ParallelWithOneNewKey_CreatesExactlyOneJobAndAllAnswer202SameJobId()
    {
        using var client = api.CreateApiClient();
        var key = "parallel-" + Guid.NewGuid().ToString("N");

        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ =>
            ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), ("x-idempotency-key", key))));
        try
        {
            Assert.All(responses, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));
            var jobIds = new List<string>();
            foreach (var response in responses)
            {
                jobIds.Add(await ReadJobIdAsync(response));
            }

            var jobId = Assert.Single(jobIds.Distinct());
            // Exactly one request created the job; the other 49 were answered as replays.
            Assert.Single(responses, r => !r.Headers.Contains("Idempotent-Replayed"));
            Assert.Equal(49, responses.Count(r => r.Headers.TryGetValues("Idempotent-Replayed", out var v) && v.Single() == "true"));

            Assert.Equal([jobId], await JobHashIdsAsync());
            Assert.Equal(1, (long)await api.Redis.GetDatabase().HashGetAsync(_keys.DispatchState, "ready").WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
        }
        finally
        {
            foreach (var response in responses)
            {
                response.Dispose();
            }
        }
    }

    [Theory]
    [InlineData("x-idempotency-key")]
    [InlineData("Idempotency-Key")]
    public async Task Submit_SameKeySameBody_ReplaysFirstAnswerByteForByte(string header)
    {
        using var client = api.CreateApiClient();
        var key = "replay-" + Guid.NewGuid().ToString("N");

        using var first = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), (header, key));
        using var second = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), (header, key));

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(["true"], second.Headers.GetValues("Idempotent-Replayed"));
        var firstBytes = await first.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        var secondBytes = await second.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(firstBytes, secondBytes);
        Assert.Equal(first.Headers.Location, second.Headers.Location);
        Assert.Single(await JobHashIdsAsync());
    }

    [Fact]
    public async Task Submit_SameKeyCustomThenStandardHeader_Replays()
    {
        using var client = api.CreateApiClient();
        var key = "both-headers-" + Guid.NewGuid().ToString("N");

        using var first = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), ("x-idempotency-key", key));
        using var second = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), ("Idempotency-Key", key));
        using var both = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), ("x-idempotency-key", key), ("Idempotency-Key", key));

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        var jobId = await ReadJobIdAsync(first);
        Assert.Equal(jobId, await ReadJobIdAsync(second));
        Assert.Equal(jobId, await ReadJobIdAsync(both));
        Assert.Equal(["true"], second.Headers.GetValues("Idempotent-Replayed"));
        Assert.Equal(["true"], both.Headers.GetValues("Idempotent-Replayed"));
    }

    [Fact]
    public async Task Submit_SameKeySameFieldsReorderedAndReformatted_Replays()
    {
        using var client = api.CreateApiClient();
        var key = "reordered-" + Guid.NewGuid().ToString("N");
        const string reordered = """
            {
              "metadata" : { "b" : "2", "a" : "1" },
              "maxTokens" : 64,
              "model" : "sim-1",
              "prompt" : "Summarise the idempotency RFC."
            }
            """;

        using var first = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), ("x-idempotency-key", key));
        using var second = await ApiFactory.PostJobAsync(client, ApiFactory.Json(reordered), ("x-idempotency-key", key));

        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        Assert.Equal(["true"], second.Headers.GetValues("Idempotent-Replayed"));
        Assert.Equal(await ReadJobIdAsync(first), await ReadJobIdAsync(second));
        Assert.Single(await JobHashIdsAsync());
    }

    [Theory]
    [InlineData("""{"prompt":"Summarise the idempotency RFC!","model":"sim-1","maxTokens":64,"metadata":{"a":"1","b":"2"}}""")]
    [InlineData("""{"prompt":"Summarise the idempotency RFC.","model":"sim-2","maxTokens":64,"metadata":{"a":"1","b":"2"}}""")]
    [InlineData("""{"prompt":"Summarise the idempotency RFC.","model":"sim-1","maxTokens":65,"metadata":{"a":"1","b":"2"}}""")]
    [InlineData("""{"prompt":"Summarise the idempotency RFC.","model":"sim-1","maxTokens":64,"metadata":{"a":"1","b":"3"}}""")]
    [InlineData("""{"prompt":"Summarise the idempotency RFC.","model":"sim-1","maxTokens":64,"temperature":0.5,"metadata":{"a":"1","b":"2"}}""")]
    [InlineData("""{"prompt":"Summarise the idempotency RFC.","model":"sim-1","maxTokens":64}""")]
    public async Task Submit_SameKeyDifferentBody_Returns422AndCreatesNothing(string otherBody)
    {
        using var client = api.CreateApiClient();
        var key = "conflict-" + Guid.NewGuid().ToString("N");

        using var first = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), ("x-idempotency-key", key));
        using var second = await ApiFactory.PostJobAsync(client, ApiFactory.Json(otherBody), ("Idempotency-Key", key));

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        using var problem = await ProblemAssert.IsProblemAsync(second, HttpStatusCode.UnprocessableEntity);
        var detail = problem.RootElement.GetProperty("detail").GetString();
        Assert.Contains(key, detail, StringComparison.Ordinal);
        Assert.Contains("different request parameters", detail, StringComparison.Ordinal);
        Assert.False(second.Headers.Contains("Idempotent-Replayed"));
        Assert.Single(await JobHashIdsAsync());
        Assert.Equal(1, (long)await api.Redis.GetDatabase().HashGetAsync(_keys.DispatchState, "ready").WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
    }

    private static async Task<string> ReadJobIdAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        using var json = JsonDocument.Parse(body);
        return json.RootElement.GetProperty("jobId").GetString()!;
    }

    /// <summary>The ids of every job hash in Redis (the <c>:attempts</c> lists excluded).</summary>
    private Task<string[]> JobHashIdsAsync() => ScanJobHashIdsAsync().WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

    private async Task<string[]> ScanJobHashIdsAsync()
    {
        var server = api.Redis.GetServers().Single();
        var prefix = _keys.Job(string.Empty).ToString();
        var ids = new List<string>();
        await foreach (var key in server.KeysAsync(pattern: prefix + "*").WithCancellation(TestContext.Current.CancellationToken))
        {
            if (await api.Redis.GetDatabase().KeyTypeAsync(key).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken) == RedisType.Hash)
            {
                ids.Add(key.ToString()[prefix.Length..]);
            }
        }

        return [.. ids];
    }
}

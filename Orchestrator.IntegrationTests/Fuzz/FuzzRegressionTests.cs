using System.Net;
using System.Text.Json;
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

    /// <summary>
    /// A client whose <c>Accept</c> admits no JSON got no problem: the key check's 401 and the header
    /// limit's 431 threw (a 500 without a body), and a query value that does not bind or an unknown
    /// route got their status without a problem body.
    /// </summary>
    [Theory]
    [InlineData("/models", "text/html", HttpStatusCode.Unauthorized)]
    [InlineData("/jobs?limit=true", "image/png", HttpStatusCode.BadRequest)]
    [InlineData("/jobs/x/y/z", "application/xml", HttpStatusCode.NotFound)]
    [InlineData("/jobs", "text/event-stream", HttpStatusCode.RequestHeaderFieldsTooLarge)]
    public async Task Get_AcceptWithoutJson_AnswersProblemAnyway(string path, string accept, HttpStatusCode expected)
    {
        using var client = api.CreateApiClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.TryAddWithoutValidation("Accept", accept);
        if (expected == HttpStatusCode.Unauthorized)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer wrong-key");
        }
        else if (expected == HttpStatusCode.RequestHeaderFieldsTooLarge)
        {
            request.Headers.TryAddWithoutValidation("X-Large", new string('h', 40_000));
        }

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

        (await ProblemAssert.IsProblemAsync(response, expected)).Dispose();
    }

    /// <summary>The OpenAPI endpoint answered a document name it does not have with a text/plain 404.</summary>
    [Fact]
    public async Task GetOpenApi_UnknownDocument_Returns404Problem()
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.GetAsync(client, "/openapi/v2.json");

        (await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound)).Dispose();
    }

    /// <summary>
    /// A <c>Last-Event-ID</c> number past 2^53 − 1 passed the check and failed in Redis (an index
    /// written "1e+17", or the one stream id no exclusive range starts after): a 500 instead of a 400.
    /// Up to that bound the id reaches Redis, which reads it without failing: the job has no such
    /// event, a 400 of its own.
    /// </summary>
    [Theory]
    [InlineData("100000000000000000", "must be the id of an event")]
    [InlineData("18446744073709551615", "must be the id of an event")]
    [InlineData("18446744073709551615-18446744073709551615", "must be the id of an event")]
    [InlineData("9007199254740991", "no event with that id")]
    [InlineData("9007199254740991-9007199254740991", "no event with that id")]
    public async Task Events_LastEventIdPast2Pow53_Returns400Problem_UpToItRedisReadsIt(string lastEventId, string mention)
    {
        using var client = api.CreateApiClient();
        using var submitted = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"events"}"""));
        using var accepted = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/jobs/{accepted.RootElement.GetProperty("jobId").GetString()}/events");
        request.Headers.Add("Last-Event-ID", lastEventId);

        // Headers only: were the stream to open, that of a queued job would stay open.
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

        await ProblemAssert.IsProblemNamingAsync(response, HttpStatusCode.BadRequest, mention);
    }

    /// <summary>
    /// The filtered redrive's body was bound by the framework, which threw on a charset it does not
    /// know (<c>charset="utf-8"</c>, <c>charset=</c>): a 500. Its body is now read as <c>POST /jobs</c>
    /// reads one: JSON in UTF-8 (a quoted "utf-8" is UTF-8), else 415; a mistyped member is a 400 naming it.
    /// </summary>
    [Theory]
    [InlineData("application/json; charset=\"utf-8\"", "{}", HttpStatusCode.OK, null)]
    [InlineData("application/json; charset=", "{}", HttpStatusCode.UnsupportedMediaType, "JSON")]
    [InlineData("application/json; charset=latin1", "{}", HttpStatusCode.UnsupportedMediaType, "UTF-8")]
    [InlineData("application/json", "{\"limit\":\"10\"}", HttpStatusCode.BadRequest, "limit")]
    [InlineData("application/json", "{\"TENANT\":5}", HttpStatusCode.BadRequest, "tenant")]
    [InlineData("application/json", "[]", HttpStatusCode.BadRequest, "JSON object")]
    public async Task RedriveMany_OddCharsetOrMistypedFilter_AnswersProblemNot500(string contentType, string body, HttpStatusCode expected, string? mention)
    {
        using var client = api.CreateApiClient();
        using var content = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);

        using var response = await client.PostAsync("/dead-letters/redrive", content, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

        if (mention is null)
        {
            Assert.Equal(expected, response.StatusCode);
            return;
        }

        await ProblemAssert.IsProblemNamingAsync(response, expected, mention);
    }
}

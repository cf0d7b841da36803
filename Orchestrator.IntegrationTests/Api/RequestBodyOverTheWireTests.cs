using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// The bodies of the endpoints that read one, on a real socket (Kestrel enforces the limits):
/// <c>POST /dead-letters/redrive</c> is held to <c>Api:MaxRequestBodySize</c> as <c>POST /jobs</c> is,
/// with the same 413 problem (it once read any body up to Kestrel's own 30 MB).
/// </summary>
public sealed class RequestBodyOverTheWireTests(KestrelApiFactory api) : IClassFixture<KestrelApiFactory>
{
    [Theory]
    [InlineData("/jobs", true)]
    [InlineData("/jobs", false)]
    [InlineData("/dead-letters/redrive", true)]
    [InlineData("/dead-letters/redrive", false)]
    public async Task Post_BodyOverLimit_Returns413ProblemOfPostJobs(string path, bool announced)
    {
        using var client = new HttpClient { BaseAddress = api.ServerAddress, Timeout = ApiFactory.RequestTimeout };
        var body = Encoding.UTF8.GetBytes($$"""{"prompt":"{{new string('p', ApiFactory.MaxRequestBodySize)}}"}""");
        HttpContent content = announced ? new ByteArrayContent(body) : new StreamContent(new NonSeekableStream(body));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await client.PostAsync(path, content, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        var root = problem.RootElement;
        Assert.Equal("Request body too large", root.GetProperty("title").GetString());
        Assert.Equal("https://tools.ietf.org/html/rfc9110#section-15.5.14", root.GetProperty("type").GetString());
        Assert.Equal($"The request body exceeds {ApiFactory.MaxRequestBodySize:N0} bytes (Api:MaxRequestBodySize).", root.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task RedriveMany_BodyWithinLimit_IsRead()
    {
        using var client = new HttpClient { BaseAddress = api.ServerAddress, Timeout = ApiFactory.RequestTimeout };
        var padded = $$"""{"errorType":"none-such"{{new string(' ', ApiFactory.MaxRequestBodySize - 100)}}}""";

        using var response = await client.PostAsync("/dead-letters/redrive", ApiFactory.Json(padded), TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var result = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal(0, result.RootElement.GetProperty("redriven").GetInt32());
    }

    /// <summary>A stream without a length, so <see cref="HttpClient"/> sends it chunked.</summary>
    private sealed class NonSeekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}

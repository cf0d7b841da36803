using System.IO.Compression;
using System.Net;
using System.Text;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// A body that is not JSON in UTF-8 gets one 415 problem, whichever refuses it: routing (a
/// Content-Type the endpoint does not accept) or the endpoint's own reader (a JSON type in another
/// charset). Routing's was titled "Unsupported Media Type", the readers' "Unsupported media type".
/// </summary>
public sealed class ContentTypeTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Theory]
    [InlineData("/jobs", "text/plain")]
    [InlineData("/jobs", "application/x-www-form-urlencoded")]
    [InlineData("/jobs", "multipart/form-data; boundary=x")]
    [InlineData("/jobs", "application/json; charset=latin1")]
    [InlineData("/dead-letters/redrive", "text/plain")]
    [InlineData("/dead-letters/redrive", "application/x-www-form-urlencoded")]
    [InlineData("/dead-letters/redrive", "multipart/form-data; boundary=x")]
    [InlineData("/dead-letters/redrive", "application/json; charset=latin1")]
    public async Task Post_BodyNotUtf8Json_Returns415ProblemWithOneTitle(string path, string contentType)
    {
        using var client = api.CreateApiClient();
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"prompt":"hello"}"""));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);

        using var response = await client.PostAsync(path, content, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
        Assert.Equal("Unsupported media type", problem.RootElement.GetProperty("title").GetString());
        Assert.Equal("https://tools.ietf.org/html/rfc9110#section-15.5.16", problem.RootElement.GetProperty("type").GetString());
        Assert.Contains("Content-Type: application/json", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    // Some tools begin UTF-8 with a byte order mark (PowerShell's Out-File, Windows editors); RFC 8259
    // §8.1 lets a parser ignore it. POST /jobs answered it "not valid JSON".
    [Theory]
    [InlineData("/jobs", """{"prompt":"hello"}""", HttpStatusCode.Accepted)]
    [InlineData("/dead-letters/redrive", """{"limit":5}""", HttpStatusCode.OK)]
    public async Task Post_JsonBeginningWithAByteOrderMark_IsRead(string path, string json, HttpStatusCode expected)
    {
        using var client = api.CreateApiClient();
        using var content = new ByteArrayContent([0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(json)]);
        content.Headers.TryAddWithoutValidation("Content-Type", "application/json");

        using var response = await client.PostAsync(path, content, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

        Assert.True(expected == response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    // A body is not decoded: a gzip one was read as it came (400 "not valid UTF-8"), and a plain one
    // labelled gzip was taken as if unlabelled.
    [Theory]
    [InlineData("/jobs", "gzip", true)]
    [InlineData("/jobs", "gzip", false)]
    [InlineData("/jobs", "deflate, identity", false)]
    [InlineData("/dead-letters/redrive", "gzip", true)]
    [InlineData("/dead-letters/redrive", "br", false)]
    public async Task Post_BodyWithAContentCoding_Returns415SayingSendItUnencoded(string path, string coding, bool compressed)
    {
        using var client = api.CreateApiClient();
        var json = Encoding.UTF8.GetBytes("""{"prompt":"hello"}""");
        using var content = new ByteArrayContent(compressed ? Gzip(json) : json);
        content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        content.Headers.TryAddWithoutValidation("Content-Encoding", coding);

        using var response = await client.PostAsync(path, content, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
        Assert.Equal("Unsupported media type", problem.RootElement.GetProperty("title").GetString());
        Assert.Contains("without a content coding", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("identity", Assert.Single(response.Headers.GetValues("Accept-Encoding")));
    }

    [Fact]
    public async Task PostJobs_IdentityCoding_IsTheBodyAsItIs()
    {
        using var client = api.CreateApiClient();
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"prompt":"hello"}"""));
        content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        content.Headers.TryAddWithoutValidation("Content-Encoding", "identity");

        using var response = await client.PostAsync("/jobs", content, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(bytes);
        }

        return output.ToArray();
    }
}

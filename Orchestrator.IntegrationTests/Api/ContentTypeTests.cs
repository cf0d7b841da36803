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
}

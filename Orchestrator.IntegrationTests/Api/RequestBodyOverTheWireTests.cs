using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// The bodies of the endpoints that read one, on a real socket (Kestrel enforces the limits):
/// <c>POST /dead-letters/redrive</c> is held to <c>Api:MaxRequestBodySize</c> as <c>POST /jobs</c> is,
/// with the same 413 problem (it once read any body up to Kestrel's own 30 MB); a body that stops
/// arriving is Kestrel's 408, a problem titled for its status (it was titled "Bad request").
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

    [Theory]
    [InlineData("/jobs")]
    [InlineData("/dead-letters/redrive")]
    public async Task Post_BodyShorterThanContentLength_Returns408RequestTimeoutProblem(string path)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        // 14 bytes of the 100 announced, then nothing: Kestrel's minimum data rate gives up after its 5 s grace.
        using var tcp = await SendRawAsync(Encoding.ASCII.GetBytes(
            $"POST {path} HTTP/1.1\r\nHost: {api.ServerAddress.Authority}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n" + """{"prompt":"a"}"""));
        var stream = tcp.GetStream();

        using var reader = new StreamReader(stream, Encoding.UTF8);
        var response = await reader.ReadToEndAsync(cancellationToken).WaitAsync(ApiFactory.RequestTimeout, cancellationToken);

        Assert.StartsWith("HTTP/1.1 408 ", response, StringComparison.Ordinal);
        Assert.Contains("Content-Type: application/problem+json", response, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\"title\":\"Request timeout\"", response, StringComparison.Ordinal);
        Assert.Contains("\"status\":408", response, StringComparison.Ordinal);
    }

    /// <summary>
    /// Most of a body sent at once, then nothing: answered at <c>Api:RequestBodyTimeout</c>. Kestrel's minimum data rate is an average since the first byte, so these
    /// 7,000 bytes alone held the request (and its buffer) for 29 s; 1 MiB held it over an hour.
    /// </summary>
    [Theory]
    [InlineData("/jobs")]
    [InlineData("/dead-letters/redrive")]
    public async Task Post_BodyThatStallsAfterMostOfIt_Returns408AtTheBodyTimeout(string path)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var sent = $$"""{"prompt":"a","metadata":{"pad":"{{new string('p', 7_000)}}""";
        using var tcp = await SendRawAsync(Encoding.ASCII.GetBytes(
            $"POST {path} HTTP/1.1\r\nHost: {api.ServerAddress.Authority}\r\nContent-Type: application/json\r\nContent-Length: {sent.Length + 10}\r\n\r\n" + sent));
        var stream = tcp.GetStream();
        var started = TimeProvider.System.GetTimestamp();

        // Up to the problem's last chunk: Kestrel then waits a moment for the rest of the body, and resets the connection.
        var response = "";
        var buffer = new byte[16_384];
        using (var answered = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            answered.CancelAfter(ApiFactory.RequestBodyTimeout + TimeSpan.FromSeconds(12));
            while (!response.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(buffer, answered.Token) is > 0 and var read)
            {
                response += Encoding.UTF8.GetString(buffer, 0, read);
            }
        }

        var waited = TimeProvider.System.GetElapsedTime(started);
        Assert.StartsWith("HTTP/1.1 408 ", response, StringComparison.Ordinal);
        Assert.Contains("\"title\":\"Request timeout\"", response, StringComparison.Ordinal);
        Assert.Contains("(Api:RequestBodyTimeout)", response, StringComparison.Ordinal);
        Assert.True(waited >= ApiFactory.RequestBodyTimeout - TimeSpan.FromSeconds(1), $"answered after {waited}");
    }

    /// <summary>
    /// A chunked body is held to <c>Api:MaxRequestBodySize</c> by its data, not its framing: Kestrel
    /// counted each chunk's size line and line ends too, and refused this body, sent in 1-byte chunks,
    /// at a sixth of the limit (an outside audit).
    /// </summary>
    [Theory]
    [InlineData(1, 0, "202")]
    [InlineData(1, 1, "413")]
    [InlineData(100, 0, "202")]
    [InlineData(100, 1, "413")]
    public async Task PostJobs_ChunkedBody_IsHeldToTheLimitByItsData(int chunkSize, int overLimit, string status)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var body = Encoding.ASCII.GetBytes("""{"prompt":"a"}""".PadRight(ApiFactory.MaxRequestBodySize + overLimit));
        var request = new MemoryStream();
        request.Write(Encoding.ASCII.GetBytes($"POST /jobs HTTP/1.1\r\nHost: {api.ServerAddress.Authority}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"));
        foreach (var chunk in body.Chunk(chunkSize))
        {
            request.Write(Encoding.ASCII.GetBytes($"{chunk.Length:x}\r\n"));
            request.Write(chunk);
            request.Write("\r\n"u8);
        }

        request.Write("0\r\n\r\n"u8);
        using var tcp = await SendRawAsync(request.ToArray());
        var stream = tcp.GetStream();

        var answer = new byte[12];
        await stream.ReadExactlyAsync(answer, cancellationToken).AsTask().WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
        Assert.Equal($"HTTP/1.1 {status}", Encoding.ASCII.GetString(answer));
    }

    /// <summary>A connection to the API with <paramref name="request"/> sent on it as it is: framing an <see cref="HttpClient"/> would not send.</summary>
    private async Task<TcpClient> SendRawAsync(byte[] request)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync(api.ServerAddress.Host, api.ServerAddress.Port, cancellationToken).AsTask().WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
            await tcp.GetStream().WriteAsync(request, cancellationToken).AsTask().WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
            return tcp;
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>A stream without a length, so <see cref="HttpClient"/> sends it chunked.</summary>
    private sealed class NonSeekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}

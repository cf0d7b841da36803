using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// Idempotency-key headers as they arrive on a real socket (Kestrel): an empty value, a header
/// line sent twice, raw non-ASCII bytes — things <see cref="HttpClient"/> drops, merges or refuses.
/// </summary>
public sealed class SubmitJobOverTheWireTests(KestrelApiFactory api) : IClassFixture<KestrelApiFactory>
{
    private const string Body = """{"prompt":"hello"}""";

    public static TheoryData<string, string> BadKeyHeaders => new()
    {
        { "empty", "x-idempotency-key: \r\n" },
        { "empty standard header", "Idempotency-Key:\r\n" },
        { "header line twice", "x-idempotency-key: one\r\nx-idempotency-key: two\r\n" },
        { "same key on two lines", "x-idempotency-key: one\r\nx-idempotency-key: one\r\n" },
        { "different keys in the two headers", "x-idempotency-key: one\r\nIdempotency-Key: two\r\n" },
        { "256 characters", $"x-idempotency-key: {new string('k', 256)}\r\n" },
    };

    [Theory]
    [MemberData(nameof(BadKeyHeaders))]
    public async Task Submit_BadIdempotencyKeyOnTheWire_Returns400Problem(string name, string headerLines)
    {
        var (status, contentType, body) = await SendAsync(Encoding.ASCII.GetBytes(headerLines));

        Assert.True(status == 400, $"{name}: answered {status}: {body}");
        Assert.StartsWith("application/problem+json", contentType, StringComparison.Ordinal);
        using var problem = JsonDocument.Parse(body);
        Assert.Contains("idempotency", problem.RootElement.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(new byte[] { 0xC3, 0xA9 })]
    [InlineData(new byte[] { 0xE9 })]
    public async Task Submit_NonAsciiIdempotencyKeyBytes_Returns400Problem(byte[] nonAscii)
    {
        // UTF-8 "clé", or Latin-1 "clé": Kestrel hands the key to the API (read as Latin-1), which refuses it.
        var (status, contentType, body) = await SendAsync([.. "x-idempotency-key: cl"u8, .. nonAscii, .. "\r\n"u8]);

        Assert.True(status == 400, $"Answered {status}: {body}");
        Assert.StartsWith("application/problem+json", contentType, StringComparison.Ordinal);
        using var problem = JsonDocument.Parse(body);
        Assert.Contains("ASCII", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_40KBHeader_Returns431Problem()
    {
        var (status, contentType, body) = await SendAsync(Encoding.ASCII.GetBytes($"X-Padding: {new string('p', 40 * 1024)}\r\n"));

        Assert.True(status == 431, $"Answered {status}: {body}");
        Assert.StartsWith("application/problem+json", contentType, StringComparison.Ordinal);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal(431, problem.RootElement.GetProperty("status").GetInt32());
        // Linked to the status's RFC, as the framework links the RFC 9110 statuses (it once had no type).
        Assert.Equal("https://tools.ietf.org/html/rfc6585#section-5", problem.RootElement.GetProperty("type").GetString());
    }

    // A chunk size past 32 bits was Kestrel's bare IOException, answered 500 with a stack in the log
    // (an outside audit), where every other malformed chunk is a 400.
    [Theory]
    [InlineData("ffffffffffffffffff")]
    [InlineData("100000000")]
    [InlineData("zz")]
    public async Task Submit_MalformedChunkSize_Returns400Problem(string chunkSize)
    {
        var (status, contentType, body) = await PostChunkedAsync("/jobs", "chunked", chunkSize);

        Assert.True(status == 400, $"Answered {status}: {body}");
        Assert.StartsWith("application/problem+json", contentType, StringComparison.Ordinal);
    }

    // Kestrel decodes only the chunking: a gzip-coded body was read still compressed, and a plain one
    // labelled gzip was taken. RFC 9112 §6.1: a coding the server does not understand is a 501.
    [Theory]
    [InlineData("gzip, chunked", "/jobs")]
    [InlineData("deflate, chunked", "/jobs")]
    [InlineData("gzip, chunked", "/dead-letters/redrive")]
    public async Task Submit_TransferCodingOtherThanChunked_Returns501Problem(string codings, string path)
    {
        var (status, contentType, body) = await PostChunkedAsync(path, codings);

        Assert.True(status == 501, $"Answered {status}: {body}");
        Assert.StartsWith("application/problem+json", contentType, StringComparison.Ordinal);
        using var problem = JsonDocument.Parse(body);
        Assert.Contains(codings, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    // An endpoint that reads no body ignores it, and its contract lists no 501 (an outside audit).
    [Theory]
    [InlineData("GET", "/jobs")]
    [InlineData("GET", "/models")]
    public async Task TransferCodingOtherThanChunked_OnAnEndpointThatReadsNoBody_IsNot501(string method, string path)
    {
        var (status, _, body) = await ExchangeAsync(Encoding.ASCII.GetBytes(
            $"{method} {path} HTTP/1.1\r\nHost: {api.ServerAddress.Authority}\r\n" +
            $"Transfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"));

        Assert.True(status == 200, $"Answered {status}: {body}");
    }

    [Fact]
    public async Task Submit_ChunkedBody_Returns202()
    {
        var (status, _, body) = await PostChunkedAsync("/jobs", "chunked");

        Assert.True(status == 202, $"Answered {status}: {body}");
    }

    [Fact]
    public async Task Submit_ValidKeyOnTheWire_Returns202()
    {
        var (status, _, body) = await SendAsync(Encoding.ASCII.GetBytes($"x-idempotency-key: wire-{Guid.NewGuid():N}\r\n"));

        Assert.True(status == 202, $"Answered {status}: {body}");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Submit_BodyOverLimitOnKestrel_Returns413Problem(bool announced)
    {
        // Kestrel enforces Api:MaxRequestBodySize itself: up front for a Content-Length, while reading for chunked.
        using var client = new HttpClient { BaseAddress = api.ServerAddress, Timeout = ApiFactory.RequestTimeout };
        var body = Encoding.UTF8.GetBytes($$"""{"prompt":"{{new string('p', ApiFactory.MaxRequestBodySize)}}"}""");
        HttpContent content = announced ? new ByteArrayContent(body) : new StreamContent(new NonSeekableStream(body));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        using var response = await ApiFactory.PostJobAsync(client, content);

        await ProblemAssert.IsProblemNamingAsync(response, System.Net.HttpStatusCode.RequestEntityTooLarge, "MaxRequestBodySize");
    }

    /// <summary>Sends one HTTP/1.1 <c>POST /jobs</c> with the given extra header lines; returns status, content type and body.</summary>
    private Task<(int Status, string ContentType, string Body)> SendAsync(byte[] extraHeaderLines)
    {
        var body = Encoding.UTF8.GetBytes(Body);
        return ExchangeAsync(
        [
            .. Encoding.ASCII.GetBytes($"POST /jobs HTTP/1.1\r\nHost: {api.ServerAddress.Authority}\r\nContent-Type: application/json\r\n" +
                $"Content-Length: {body.Length}\r\nConnection: close\r\n"),
            .. extraHeaderLines,
            .. "\r\n"u8,
            .. body,
        ]);
    }

    /// <summary>
    /// POSTs <see cref="Body"/> to <paramref name="path"/> in one chunk under <c>Transfer-Encoding: <paramref name="codings"/></c>,
    /// the chunk's size line <paramref name="chunkSize"/> when given (else the body's length in hex).
    /// </summary>
    private Task<(int Status, string ContentType, string Body)> PostChunkedAsync(string path, string codings, string? chunkSize = null) =>
        ExchangeAsync(Encoding.ASCII.GetBytes(
            $"POST {path} HTTP/1.1\r\nHost: {api.ServerAddress.Authority}\r\nContent-Type: application/json\r\n" +
            $"Transfer-Encoding: {codings}\r\nConnection: close\r\n\r\n{chunkSize ?? Body.Length.ToString("x", System.Globalization.CultureInfo.InvariantCulture)}\r\n{Body}\r\n0\r\n\r\n"));

    /// <summary>Writes <paramref name="request"/> as it is and reads the answer to its end; returns status, content type and body.</summary>
    private async Task<(int Status, string ContentType, string Body)> ExchangeAsync(byte[] request)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var address = api.ServerAddress;
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(address.Host, address.Port, cancellationToken).AsTask().WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
        var stream = tcp.GetStream();
        await stream.WriteAsync(request, cancellationToken).AsTask().WaitAsync(ApiFactory.RequestTimeout, cancellationToken);

        using var reader = new StreamReader(stream, Encoding.UTF8);
        var response = await reader.ReadToEndAsync(cancellationToken).WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
        var headerEnd = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var head = headerEnd < 0 ? response : response[..headerEnd];
        var lines = head.Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var contentType = lines.Skip(1)
            .Where(l => l.StartsWith("Content-Type:", StringComparison.OrdinalIgnoreCase))
            .Select(l => l["Content-Type:".Length..].Trim())
            .FirstOrDefault() ?? "";
        var payload = headerEnd < 0 ? "" : response[(headerEnd + 4)..];
        if (lines.Any(l => l.Equals("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase)))
        {
            payload = Unchunk(payload);
        }

        return (status, contentType, payload);
    }

    private static string Unchunk(string chunked)
    {
        var result = new StringBuilder();
        var position = 0;
        while (true)
        {
            var lineEnd = chunked.IndexOf("\r\n", position, StringComparison.Ordinal);
            var size = Convert.ToInt32(chunked[position..lineEnd], 16);
            if (size == 0)
            {
                return result.ToString();
            }

            result.Append(chunked, lineEnd + 2, size);
            position = lineEnd + 2 + size + 2;
        }
    }

    /// <summary>A stream without a length, so <see cref="HttpClient"/> sends it chunked.</summary>
    private sealed class NonSeekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}

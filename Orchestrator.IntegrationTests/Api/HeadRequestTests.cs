using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// HEAD of every resource a client reads answers as its GET would, without the body (RFC 9110 9.1: a
/// general-purpose server supports GET and HEAD); an outside audit found <c>405</c>. Checked on a real
/// socket (Kestrel): HEADs and a GET sent on one connection, so a HEAD that sent a body would show as
/// the next answer's garbage.
/// </summary>
public sealed class HeadRequestTests(KestrelApiFactory api) : IClassFixture<KestrelApiFactory>
{
    [Fact]
    public async Task Head_OfEachReadResource_AnswersAsItsGet_WithoutTheBody()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var http = new HttpClient { BaseAddress = api.ServerAddress, Timeout = ApiFactory.RequestTimeout };
        using var submitted = await http.PostAsJsonAsync("/jobs", new { prompt = "read me" }, cancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var jobId = (await submitted.Content.ReadFromJsonAsync<Submitted>(cancellationToken))!.JobId;

        (string Path, int Status)[] heads =
        [
            ($"/jobs/{jobId}", 200), ("/jobs", 200), ("/jobs/counts", 200), ("/dead-letters", 200), ("/models", 200),
            ("/jobs/AAAAAAAAAAAAAAAAAAAAAA", 404),
            // A stream, which a HEAD would hold open for nothing: GET only.
            ($"/jobs/{jobId}/events", 405),
        ];
        var address = api.ServerAddress;
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(address.Host, address.Port, cancellationToken).AsTask().WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
        var stream = tcp.GetStream();
        var requests = string.Concat(heads.Select(h => $"HEAD {h.Path} HTTP/1.1\r\nHost: {address.Authority}\r\n\r\n"))
            + $"GET /jobs/{jobId} HTTP/1.1\r\nHost: {address.Authority}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(requests), cancellationToken).AsTask().WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var answers = (await reader.ReadToEndAsync(cancellationToken).WaitAsync(ApiFactory.RequestTimeout, cancellationToken)).Split("\r\n\r\n");

        for (var i = 0; i < heads.Length; i++)
        {
            // Each HEAD's answer is a status line and headers, and the next answer follows at once.
            Assert.StartsWith($"HTTP/1.1 {heads[i].Status} ", answers[i], StringComparison.Ordinal);
            if (heads[i].Status == 200)
            {
                Assert.Contains("Content-Type: application/json", answers[i], StringComparison.OrdinalIgnoreCase);
            }
        }

        Assert.Contains("Allow: GET", answers[heads.Length - 1], StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 ", answers[heads.Length], StringComparison.Ordinal);
        Assert.Contains(jobId, answers[heads.Length + 1], StringComparison.Ordinal);
    }

    private sealed record Submitted(string JobId);
}

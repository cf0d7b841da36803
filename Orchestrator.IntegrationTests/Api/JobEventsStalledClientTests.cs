using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// An event stream whose client stops reading is closed at <c>Api:EventStreamWriteTimeout</c>, with
/// what was written to it. Kestrel's minimum response rate is an average since a write began: a
/// client that read nothing of a final job's 'done' (8 MB here) held it, and the API's memory, for
/// hours (an outside audit: 200 such clients of a job with a 490,000-character answer, 915 MB).
/// </summary>
public sealed class JobEventsStalledClientTests(KestrelApiFactory api) : IClassFixture<KestrelApiFactory>
{
    private const int AnswerLength = 8 * 1024 * 1024;

    [Fact]
    public async Task Events_ClientThatReadsNothing_IsCutOffAtTheWriteTimeout()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var client = new HttpClient { BaseAddress = api.ServerAddress, Timeout = ApiFactory.RequestTimeout };
        using var submitted = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"a long answer"}"""));
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        using var accepted = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync(cancellationToken));
        var jobId = accepted.RootElement.GetProperty("jobId").GetString()!;
        var worker = await TestWorker.StartAsync(api);
        var (lease, attempt) = Assert.Single(await worker.StartAttemptsAsync(1));
        Assert.True(await worker.Store.CompleteAsync(lease, attempt, new JobResult(new string('a', AnswerLength), "model", new TokenUsage(1, 1))).Bounded());

        // A receive window of 4 KB: the 'done' waits in the API, not in the client's socket.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(api.ServerAddress.Host, api.ServerAddress.Port, cancellationToken).AsTask().WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /jobs/{jobId}/events HTTP/1.1\r\nHost: {api.ServerAddress.Authority}\r\n\r\n"), cancellationToken)
            .AsTask().WaitAsync(ApiFactory.RequestTimeout, cancellationToken);

        // The subject is time without a read: nothing is read until the timeout has passed.
        await Task.Delay(ApiFactory.EventStreamWriteTimeout + TimeSpan.FromSeconds(3), cancellationToken);

        // Then everything is read: the stream was cut, so its last chunk never comes. Before, the
        // whole 'done' and the end of the response followed.
        var received = 0L;
        var ended = false;
        var tail = "";
        var buffer = new byte[65_536];
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        reading.CancelAfter(ApiFactory.RequestTimeout);
        try
        {
            while (await socket.ReceiveAsync(buffer, reading.Token) is > 0 and var read)
            {
                received += read;
                tail = (tail + Encoding.ASCII.GetString(buffer, 0, read))[^Math.Min(tail.Length + read, 16)..];
                if (tail.EndsWith("\r\n0\r\n\r\n", StringComparison.Ordinal))
                {
                    ended = true;
                    break;
                }
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // The connection was aborted: what the API had written is gone with it.
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"received {received:N0} bytes of a stream whose 'done' alone is over {AnswerLength:N0}");
        Assert.False(ended, $"the stream was sent whole ({received:N0} bytes) to a client that read nothing for {ApiFactory.EventStreamWriteTimeout.TotalSeconds + 3} s");
        Assert.True(received < AnswerLength, $"received {received:N0} bytes");
    }
}

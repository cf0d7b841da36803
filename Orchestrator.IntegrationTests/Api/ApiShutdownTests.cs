using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Orchestrator.IntegrationTests.Results;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// SIGTERM stops a real API process at once although requests wait on a job: a long poll is answered
/// with the job as it is (200, as when its wait ends) and an event stream ends without 'done', so its
/// client reconnects (to another replica) and resumes with Last-Event-ID. Before, they held the
/// shutdown: 24.5 s for a ?wait=25, the whole 30 s shutdown timeout for a stream (audit).
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class ApiShutdownTests
{
    /// <summary>Well under the waits held open (30 s) and the host's shutdown timeout (30 s).</summary>
    private static readonly TimeSpan PromptExit = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Sigterm_WithALongPollAndAnEventStreamOpen_AnswersBothAndExitsPromptly()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        // No worker: the job stays queued, so neither wait ends by itself.
        await using var setup = await ResultsSetup.StartAsync();
        var id = await setup.SubmitAsync("Wait for me.");

        using var streamRequest = new HttpRequestMessage(HttpMethod.Get, $"/jobs/{id}/events");
        streamRequest.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var stream = await setup.Client.SendAsync(streamRequest, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync(cancellationToken), Encoding.UTF8);
        var streamed = ReadToEndAsync(reader, cancellationToken);

        var poll = setup.Client.GetAsync($"/jobs/{id}?wait=30", cancellationToken);
        // Nothing outside the API shows a request waiting: give the poll time to reach its wait.
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        Assert.False(poll.IsCompleted, "the long poll answered before the API was stopped");

        await TerminatePromptlyAsync(setup.Api);

        using var answered = await poll.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
        var body = await answered.Content.ReadAsStringAsync(cancellationToken);
        Assert.True(answered.StatusCode == HttpStatusCode.OK, $"{(int)answered.StatusCode}: {body}");
        var job = JsonNode.Parse(body)!;
        Assert.Equal(id, job["jobId"]!.GetValue<string>());
        Assert.Equal("queued", job["status"]!.GetValue<string>());

        // The stream ended cleanly (no reset) with the events sent so far, and no 'done': the job is not final.
        var lines = await streamed.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
        Assert.Contains("event: status", lines);
        Assert.DoesNotContain("event: done", lines);
    }

    /// <summary>
    /// SIGTERM while Redis does not answer (frozen): a long poll is answered at once with the job as
    /// last read, not with a 503 after Redis's command timeout (an outside audit: 1,000 waits
    /// answered 503 up to 3.95 s after SIGTERM, Redis paused).
    /// </summary>
    [Fact]
    public async Task Sigterm_WhileRedisIsFrozen_ALongPollIsAnsweredAtOnceWithTheJobAsLastRead()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var setup = await ResultsSetup.StartAsync();
        var id = await setup.SubmitAsync("Wait for me.");
        var poll = setup.Client.GetAsync($"/jobs/{id}?wait=30", cancellationToken);
        // Nothing outside the API shows a request waiting: give the poll time to reach its wait.
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        Assert.False(poll.IsCompleted, "the long poll answered before the API was stopped");

        setup.Harness.Redis.Pause();
        Task<bool>? exiting = null;
        try
        {
            var stopwatch = Stopwatch.StartNew();
            exiting = setup.Api.TerminateAsync(TimeSpan.FromSeconds(40));
            using var answered = await poll.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
            var answeredAfter = stopwatch.Elapsed;
            var body = await answered.Content.ReadAsStringAsync(cancellationToken);
            TestContext.Current.TestOutputHelper?.WriteLine($"answered {(int)answered.StatusCode} {answeredAfter.TotalSeconds:F2} s after SIGTERM");
            Assert.True(answered.StatusCode == HttpStatusCode.OK, $"{(int)answered.StatusCode}: {body}");
            Assert.Equal("queued", JsonNode.Parse(body)!["status"]!.GetValue<string>());
            Assert.True(answeredAfter < TimeSpan.FromSeconds(1.5), $"answered {answeredAfter.TotalSeconds:F2} s after SIGTERM");
        }
        finally
        {
            setup.Harness.Redis.Resume();
            if (exiting is not null)
            {
                await exiting;
            }
        }
    }

    /// <summary>
    /// A stream whose client takes nothing (its 'done' of 8 MB waiting in the API) does not hold the
    /// shutdown: its write ends when the host stops, and its connection is closed. Before, the API
    /// exited only at the host's 30 s shutdown timeout (an outside audit: 30.26 s with 50 such clients).
    /// </summary>
    [Fact]
    public async Task Sigterm_WithAStreamWhoseClientTakesNothing_ExitsPromptly()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var setup = await ResultsSetup.StartAsync();
        var id = await setup.SubmitAsync("A long answer.");
        var store = setup.Harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        var delivery = Assert.Single(await store.ReadNewAsync("worker-a", 10, TimeSpan.FromMilliseconds(100)).Bounded());
        var claim = await store.ClaimAsync(delivery, "worker-a", startAttempt: true).Bounded();
        Assert.True(await store.CompleteAsync(claim.Lease, claim.StartedAttempt, new Orchestrator.Jobs.JobResult(new string('a', 8 * 1024 * 1024), "model", new Orchestrator.Jobs.TokenUsage(1, 1))).Bounded());

        // A receive window of 4 KB: the 'done' waits in the API, not in the client's socket.
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(setup.Api.Address.Host, setup.Api.Address.Port, cancellationToken).AsTask().WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            $"GET /jobs/{id}/events HTTP/1.1\r\nHost: {setup.Api.Address.Authority}\r\nAuthorization: Bearer {TenantApiFactory.KeyA}\r\n\r\n"), cancellationToken)
            .AsTask().WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
        var first = new byte[1024];
        Assert.True(await socket.ReceiveAsync(first, cancellationToken).AsTask().WaitAsync(ApiFactory.RequestTimeout, cancellationToken) > 0);
        // Nothing outside the API shows its write blocked: give it time to fill the socket's buffers.
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);

        await TerminatePromptlyAsync(setup.Api);
    }

    /// <summary>SIGTERM; the API must exit with code 0 within <see cref="PromptExit"/>.</summary>
    private static async Task TerminatePromptlyAsync(ApiProcess api)
    {
        var stopwatch = Stopwatch.StartNew();
        var exited = await api.TerminateAsync(TimeSpan.FromSeconds(40));
        var exit = stopwatch.Elapsed;
        TestContext.Current.TestOutputHelper?.WriteLine($"exited {exit.TotalSeconds:F2} s after SIGTERM");
        Assert.True(exited, $"the API did not exit within 40 s: {api.Tail()}");
        Assert.True(exit < PromptExit, $"the API took {exit.TotalSeconds:F1} s to exit after SIGTERM");
        Assert.Equal(0, api.ExitCode);
    }

    private static async Task<List<string>> ReadToEndAsync(StreamReader reader, CancellationToken cancellationToken)
    {
        var lines = new List<string>();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            lines.Add(line);
        }

        return lines;
    }
}

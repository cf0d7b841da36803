using System.Net;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Client;

namespace Orchestrator.UnitTests.Client;

/// <summary>
/// <see cref="OrchestratorClient.FollowAsync"/> over streams that break the ways a real one does, on
/// cue: ended between two events (an API stopped), cut mid-event, gone silent, refused with a 503 or 429. A
/// scripted handler answers; a fake clock moves the client's idle bound and pauses.
/// </summary>
public sealed class OrchestratorClientEventsTests
{
    private const string JobId = "AAAAAAAAAAAAAAAAAAAAAA";

    private const string Done = """
        id: 5
        event: done
        data: {"jobId":"AAAAAAAAAAAAAAAAAAAAAA","status":"completed","prompt":"p","model":"m","maxTokens":null,"temperature":null,"metadata":null,"attempts":1,"maxAttempts":5,"createdAt":"2026-12-05T00:00:00.000Z","updatedAt":"2026-12-05T00:00:01.000Z","completedAt":"2026-12-05T00:00:01.000Z","nextAttemptAt":null,"result":{"text":"Leases renew.","model":"m","usage":{"promptTokens":1,"completionTokens":3}},"error":null,"history":[]}


        """;

    private const string FirstThree = """
        id: 1
        event: status
        data: {"jobId":"AAAAAAAAAAAAAAAAAAAAAA","status":"queued","attempt":0,"at":"2026-12-05T00:00:00.000Z"}

        id: 2
        event: status
        data: {"jobId":"AAAAAAAAAAAAAAAAAAAAAA","status":"processing","attempt":1,"at":"2026-12-05T00:00:00.100Z"}

        : keep-alive

        id: 3
        event: delta
        data: {"jobId":"AAAAAAAAAAAAAAAAAAAAAA","attempt":1,"text":"Leases "}


        """;

    private const string Fourth = """
        id: 4
        event: delta
        data: {"jobId":"AAAAAAAAAAAAAAAAAAAAAA","attempt":1,"text":"renew."}


        """;

    [Fact]
    public async Task AStreamEndedBeforeDone_IsOpenedAgainAfterTheLastEvent_NoGapNoRepeat()
    {
        // As when the API stops (SIGTERM, a rolling restart): the stream ends cleanly between two events.
        var handler = new ScriptedHandler((call, _) => Task.FromResult(call == 1 ? Events(FirstThree) : Events(Fourth + Done)));
        var client = Client(handler);

        var events = await FollowAllAsync(client);

        Assert.Equal(["1", "2", "3", "4", "5"], events.Select(e => e.Id));
        Assert.Equal([null, "3"], handler.LastEventIds);
        Assert.Equal([JobStatuses.Queued, JobStatuses.Processing], events.Where(e => e.Type == JobEventTypes.Status).Select(e => e.Status));
        Assert.Equal("Leases renew.", string.Concat(events.Where(e => e.Type == JobEventTypes.Delta).Select(e => e.Text)));
        var done = events[^1];
        Assert.Equal((JobEventTypes.Done, JobStatuses.Completed, 1), (done.Type, done.Status, done.Attempt));
        Assert.Equal("Leases renew.", done.Job!.Result!.Text);
        Assert.Equal(DateTimeOffset.Parse("2026-12-05T00:00:00.100Z", System.Globalization.CultureInfo.InvariantCulture), events[1].At);
    }

    [Fact]
    public async Task AStreamCutMidEvent_IsOpenedAgainAfterTheLastWholeEvent()
    {
        // A connection reset halfway through event 4: the part read is not an event, and it comes again whole.
        var cut = Encoding.UTF8.GetBytes(FirstThree + Fourth[..30]);
        var handler = new ScriptedHandler((call, _) => Task.FromResult(call == 1
            ? Events(new BreakingStream(cut))
            : Events(Fourth + Done)));
        var client = Client(handler);

        var events = await FollowAllAsync(client);

        Assert.Equal(["1", "2", "3", "4", "5"], events.Select(e => e.Id));
        Assert.Equal([null, "3"], handler.LastEventIds);
    }

    [Fact]
    public async Task AStreamSilentPastItsIdleBound_IsOpenedAgain()
    {
        // A paused API or a black-holed route: no keep-alive comes, and nothing would end the read.
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-05T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var handler = new ScriptedHandler((call, _) => Task.FromResult(call == 1
            ? Events(new BreakingStream(Encoding.UTF8.GetBytes(FirstThree), silentAfter: true))
            : Events(Fourth + Done)));
        var client = Client(handler, time);

        var events = await FollowWhileTheClockRunsAsync(client, time, "the silent stream is given up and opened again");
        Assert.Equal(["1", "2", "3", "4", "5"], events.Select(e => e.Id));
        Assert.Equal([null, "3"], handler.LastEventIds);
    }

    [Fact]
    public async Task AnApiThatAnswersNothingPastTheIdleBound_IsAskedAgain()
    {
        // A paused API (SIGSTOP) takes the connection and sends no headers: the idle bound ends the
        // wait, and the client asks again (an outside audit: it threw TaskCanceledException at 45 s).
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-05T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var handler = new ScriptedHandler(async (call, token) =>
        {
            if (call == 1)
            {
                await Task.Delay(Timeout.Infinite, token);
            }

            return Events(FirstThree + Fourth + Done);
        });
        var client = Client(handler, time);

        var events = await FollowWhileTheClockRunsAsync(client, time, "the unanswered request is given up and sent again");
        Assert.Equal(["1", "2", "3", "4", "5"], events.Select(e => e.Id));
        Assert.Equal(2, handler.Calls);
    }

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable)] // the job store away, or every place to wait taken
    [InlineData(HttpStatusCode.TooManyRequests)] // the tenant's places to wait taken (Api:MaxConcurrentWaitsPerTenant)
    public async Task A503Or429_IsAskedAgain_WithTheSameLastEventId(HttpStatusCode status)
    {
        var handler = new ScriptedHandler((call, _) => Task.FromResult(call == 1
            ? Problem(status, "Not now")
            : Events(Fourth + Done)));
        var client = Client(handler);

        var events = await FollowAllAsync(client, lastEventId: "3");

        Assert.Equal(["4", "5"], events.Select(e => e.Id));
        Assert.Equal(["3", "3"], handler.LastEventIds);
    }

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    [InlineData(HttpStatusCode.TooManyRequests)]
    public async Task A503Or429WithRetryAfter_IsAskedAgainNoSooner(HttpStatusCode status)
    {
        // It was asked again 100 to 700 ms later, whatever the API asked for (an outside audit).
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-05T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var asked = new List<DateTimeOffset>();
        var handler = new ScriptedHandler((call, _) =>
        {
            lock (asked)
            {
                asked.Add(time.GetUtcNow());
            }

            var refused = Problem(status, "Not now");
            refused.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(5));
            return Task.FromResult(call == 1 ? refused : Events(Fourth + Done));
        });
        var following = FollowAllAsync(Client(handler, time), lastEventId: "3");

        await AsyncWait.WaitUntilAsync(() =>
        {
            if (handler.Calls < 2)
            {
                time.Advance(TimeSpan.FromMilliseconds(250));
            }

            return handler.Calls >= 2;
        }, TimeSpan.FromSeconds(10), "the stream is opened again", TimeSpan.FromMilliseconds(5));

        Assert.Equal(["4", "5"], (await following.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken)).Select(e => e.Id));
        Assert.InRange(asked[1] - asked[0], TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5.5));
    }

    [Fact]
    public async Task A204_AfterDone_YieldsNothing()
    {
        var handler = new ScriptedHandler((_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.NoContent)));
        var client = Client(handler);

        Assert.Empty(await FollowAllAsync(client, lastEventId: "5"));
        Assert.Equal(1, handler.Calls);
    }

    [Theory]
    [InlineData(HttpStatusCode.NotFound)]
    [InlineData(HttpStatusCode.BadRequest)]
    public async Task NoSuchJobOrEvent_ThrowsTheApisProblem_NotAskedAgain(HttpStatusCode status)
    {
        var handler = new ScriptedHandler((_, _) => Task.FromResult(Problem(status, "Refused")));
        var client = Client(handler);

        var error = await Assert.ThrowsAsync<OrchestratorProblemException>(() => FollowAllAsync(client, lastEventId: "9"));

        Assert.Equal(((int)status, "Refused"), (error.Status, error.Title));
        Assert.Equal(1, handler.Calls);
    }

    /// <summary>A client over <paramref name="handler"/> (its <see cref="HttpClient"/> owns nothing else to dispose).</summary>
    [Fact]
    public async Task A200ThatIsNoEventStream_ThrowsAProblem_NotOpenedAgain()
    {
        // A proxy's or another server's page answers 200: as events it holds none, and reopening it would never end.
        var handler = new ScriptedHandler((_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = new StringContent("<html>Sign in</html>", Encoding.UTF8, "text/html"),
        }));
        var client = Client(handler);

        var error = await Assert.ThrowsAsync<OrchestratorProblemException>(() => FollowAllAsync(client));

        Assert.Equal((200, "Not an event stream"), (error.Status, error.Title));
        Assert.Equal(1, handler.Calls);
    }

    [Fact]
    public async Task A404WhoseBodyStalls_IsStillTheProblem_NotAFollowingThatNeverEnds()
    {
        // A proxy or peer that sends part of an error's body and goes silent: the stream's answer is read
        // past HttpClient.Timeout (headers only), and the problem's read was bounded by the caller's
        // token alone (an outside audit: no return after 170 s).
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-05T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var handler = new ScriptedHandler((_, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.NotFound)
        {
            Content = new StreamContent(new BreakingStream(Encoding.UTF8.GetBytes("""{"type":"""), silentAfter: true))
            {
                Headers = { ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/problem+json") },
            },
        }));
        var client = Client(handler, time);

        var follow = FollowAllAsync(client);
        await AsyncWait.WaitUntilAsync(() =>
        {
            if (!follow.IsCompleted)
            {
                time.Advance(TimeSpan.FromSeconds(1));
            }

            return follow.IsCompleted;
        }, TimeSpan.FromSeconds(10), "the stalled problem is given up", TimeSpan.FromMilliseconds(10));

        var error = await Assert.ThrowsAsync<OrchestratorProblemException>(() => follow);
        Assert.Equal(404, error.Status);
        Assert.Equal(1, handler.Calls);
    }

    private static OrchestratorClient Client(ScriptedHandler handler, TimeProvider? time = null) =>
        new(new HttpClient(handler) { BaseAddress = new Uri("http://api.test/") },
            new OrchestratorClientOptions { PollInterval = TimeSpan.FromMilliseconds(1) }, time);

    /// <summary>Every event, the fake clock moved on 5 s at a time until the following ends (past the idle bound).</summary>
    private static async Task<List<JobEvent>> FollowWhileTheClockRunsAsync(OrchestratorClient client, FakeTimeProvider time, string because)
    {
        var follow = FollowAllAsync(client);
        await AsyncWait.WaitUntilAsync(() =>
        {
            if (!follow.IsCompleted)
            {
                time.Advance(TimeSpan.FromSeconds(5));
            }

            return follow.IsCompleted;
        }, TimeSpan.FromSeconds(10), because, TimeSpan.FromMilliseconds(10));
        return await follow;
    }

    private static async Task<List<JobEvent>> FollowAllAsync(OrchestratorClient client, string? lastEventId = null)
    {
        var events = new List<JobEvent>();
        await foreach (var item in client.FollowAsync(JobId, lastEventId, TestContext.Current.CancellationToken)
            .WithCancellation(TestContext.Current.CancellationToken))
        {
            events.Add(item);
        }

        return events;
    }

    private static HttpResponseMessage Events(string text) => Events(new MemoryStream(Encoding.UTF8.GetBytes(text)));

    private static HttpResponseMessage Events(Stream body)
    {
        var content = new StreamContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/event-stream");
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content };
    }

    private static HttpResponseMessage Problem(HttpStatusCode status, string title) => new(status)
    {
        Content = new StringContent($$"""{"title":"{{title}}","status":{{(int)status}}}""", Encoding.UTF8, "application/problem+json"),
    };
}

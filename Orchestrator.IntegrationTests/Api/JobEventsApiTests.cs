using System.Net;
using System.Text.Json;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// <c>GET /jobs/{id}/events</c> with a <c>Last-Event-ID</c> later than the job's last event: no
/// stream sent it (events are only appended), so it is a 400 problem, on a live job as on a final
/// one. A live job's stream once opened and waited for it forever, never sending <c>done</c>; a
/// final job's answered 204. The job's own last id still resumes (live: the stream, final: 204).
/// </summary>
public sealed class JobEventsApiTests(ApiFactory api) : IClassFixture<ApiFactory>, IAsyncLifetime
{
    private static readonly JobResult Result = new("done", "model", new TokenUsage(1, 1));

    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Events_LastEventIdBeyondTheLastEvent_Returns400_LiveOrFinal()
    {
        using var client = api.CreateApiClient();
        var (jobId, worker) = await SubmitAsync(client, "events");
        var (lease, attempt) = Assert.Single(await worker.StartAttemptsAsync(1));
        Assert.True(await worker.Store.AppendDeltaAsync(lease, attempt, 1, "partial").Bounded());

        // Live, three events: queued, processing, delta.
        foreach (var beyond in (string[])["4", "99"])
        {
            using var live = await EventsAsync(client, jobId, beyond);
            await ProblemAssert.IsProblemNamingAsync(live, HttpStatusCode.BadRequest, "no event with that id");
        }

        using (var resumed = await EventsAsync(client, jobId, "3"))
        {
            Assert.Equal(HttpStatusCode.OK, resumed.StatusCode);
            Assert.Equal("text/event-stream", resumed.Content.Headers.ContentType?.MediaType);
        }

        // Final, five events: completed and done added.
        Assert.True(await worker.Store.CompleteAsync(lease, attempt, Result).Bounded());
        foreach (var beyond in (string[])["6", "99"])
        {
            using var final = await EventsAsync(client, jobId, beyond);
            await ProblemAssert.IsProblemNamingAsync(final, HttpStatusCode.BadRequest, "no event with that id");
        }

        using var seenAll = await EventsAsync(client, jobId, "5");
        Assert.Equal(HttpStatusCode.NoContent, seenAll.StatusCode);
    }

    /// <summary>
    /// A redriven job (audit D1): a stream from the start passes the first run's <c>done</c> (not
    /// sent) and goes on to the new run, ending at the last <c>done</c> with the final job, which
    /// agrees with the events before it. It once ended at the old <c>done</c>, whose data was the job
    /// as it was then (<c>queued</c>). The old <c>done</c>'s id still resumes.
    /// </summary>
    [Fact]
    public async Task Events_RedrivenJob_StreamPassesTheOldDone_EndsAtTheLastDoneWithTheFinalJob()
    {
        using var client = api.CreateApiClient();
        var (jobId, worker) = await SubmitAsync(client, "redriven events");
        var (lease, attempt) = Assert.Single(await worker.StartAttemptsAsync(1));
        await worker.FailAsync(lease, attempt);
        Assert.Equal(RedriveOutcome.Redriven, await worker.Store.RedriveAsync(jobId, RedriveFilter.Any).Bounded());

        // The first run's five events and the redrive's 'queued'; the stream stays open for more.
        using var live = await SseReader.OpenAsync(client, jobId, lastEventId: null);
        Assert.Equal(["1 status queued", "2 status processing", "3 status failed", "5 status queued"],
            (await live.NextAsync(4)).Select(e => e.Brief));

        (lease, attempt) = Assert.Single(await worker.StartAttemptsAsync(1));
        Assert.True(await worker.Store.AppendDeltaAsync(lease, attempt, 1, "again").Bounded());
        Assert.True(await worker.Store.CompleteAsync(lease, attempt, new JobResult("again", "model", new TokenUsage(1, 1))).Bounded());
        string[] secondRun = ["6 status processing", "7 delta again", "8 status completed", "9 done completed"];
        var rest = await live.ToEndAsync();
        Assert.Equal(secondRun, rest.Select(e => e.Brief));
        Assert.Equal(2, rest[^1].Data["attempts"]!.GetValue<int>());
        Assert.Equal("again", rest[^1].Data["result"]!["text"]!.GetValue<string>());

        // The same from the start, and resumed before or after the old 'done'; after the last: 204.
        using (var fresh = await SseReader.OpenAsync(client, jobId, lastEventId: null))
        {
            Assert.Equal(["1 status queued", "2 status processing", "3 status failed", "5 status queued", .. secondRun],
                (await fresh.ToEndAsync()).Select(e => e.Brief));
        }

        foreach (var beforeOrAtOldDone in (string[])["3", "4"])
        {
            using var resumed = await SseReader.OpenAsync(client, jobId, beforeOrAtOldDone);
            Assert.Equal(["5 status queued", .. secondRun], (await resumed.ToEndAsync()).Select(e => e.Brief));
        }

        using var seenAll = await EventsAsync(client, jobId, "9");
        Assert.Equal(HttpStatusCode.NoContent, seenAll.StatusCode);
    }

    /// <summary>
    /// A stream reads about 64 K characters a round trip, as many events as their size allows (a
    /// page of 100 long deltas held ~4 MB per client that stalled): long and short deltas alike all
    /// arrive, in order, each once.
    /// </summary>
    [Fact]
    public async Task Events_LongThenShortDeltas_AllStreamedInOrder_ThroughPagesSizedByTheirText()
    {
        using var client = api.CreateApiClient();
        var (jobId, worker) = await SubmitAsync(client, "long deltas");
        var (lease, attempt) = Assert.Single(await worker.StartAttemptsAsync(1));
        var texts = Enumerable.Range(0, 150).Select(i => i < 50 ? new string((char)('a' + (i % 26)), 20_000) : $"short {i}").ToList();
        for (var i = 0; i < texts.Count; i++)
        {
            Assert.True(await worker.Store.AppendDeltaAsync(lease, attempt, i + 1, texts[i]).Bounded());
        }

        Assert.True(await worker.Store.CompleteAsync(lease, attempt, Result).Bounded());

        using var stream = await SseReader.OpenAsync(client, jobId, lastEventId: null);
        var events = await stream.ToEndAsync();

        Assert.Equal(Enumerable.Range(1, texts.Count + 4).Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)), events.Select(e => e.Id));
        Assert.Equal(texts, events.Skip(2).Take(texts.Count).Select(e => e.Data["text"]!.GetValue<string>()));
        Assert.Equal("done", events[^1].Type);
    }

    /// <summary>Submits a job and joins the consumer group as a worker, which has not taken it yet.</summary>
    private async Task<(string JobId, TestWorker Worker)> SubmitAsync(HttpClient client, string prompt)
    {
        using var submitted = await ApiFactory.PostJobAsync(client, ApiFactory.Json(new System.Text.Json.Nodes.JsonObject { ["prompt"] = prompt }.ToJsonString()));
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        using var accepted = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        return (accepted.RootElement.GetProperty("jobId").GetString()!, await TestWorker.StartAsync(api));
    }

    /// <summary>Headers only: an open stream of a live job does not end by itself.</summary>
    private static async Task<HttpResponseMessage> EventsAsync(HttpClient client, string jobId, string lastEventId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/jobs/{jobId}/events");
        request.Headers.Add("Last-Event-ID", lastEventId);
        return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
    }
}

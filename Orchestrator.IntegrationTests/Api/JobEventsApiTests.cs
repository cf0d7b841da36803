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
        using var submitted = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"events"}"""));
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        using var accepted = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var jobId = accepted.RootElement.GetProperty("jobId").GetString()!;
        var worker = await TestWorker.StartAsync(api);
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

    /// <summary>Headers only: an open stream of a live job does not end by itself.</summary>
    private static async Task<HttpResponseMessage> EventsAsync(HttpClient client, string jobId, string lastEventId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/jobs/{jobId}/events");
        request.Headers.Add("Last-Event-ID", lastEventId);
        return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
    }
}

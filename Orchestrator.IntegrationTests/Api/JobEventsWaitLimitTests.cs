using System.Net;
using Microsoft.AspNetCore.Hosting;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// <c>GET /jobs/{id}/events</c> and <c>Api:MaxConcurrentWaits</c> (audit D2): only a stream that
/// will wait takes a place. A final job's events, and the 204 after its <c>done</c>, are served while
/// every place is taken, as <c>?wait=</c> on a final job is; they once answered 503 too-many-waits.
/// </summary>
public sealed class JobEventsWaitLimitTests(JobEventsWaitLimitTests.OneWaitApiFactory api)
    : IClassFixture<JobEventsWaitLimitTests.OneWaitApiFactory>, IAsyncLifetime
{
    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Events_FinalJob_ServedWhileEveryWaitIsTaken_LiveJobRefused()
    {
        using var client = api.CreateApiClient();
        var final = await ApiFactory.SubmitPromptAsync(client, "final");
        var worker = await TestWorker.StartAsync(api);
        var (lease, attempt) = Assert.Single(await worker.StartAttemptsAsync(1));
        Assert.True(await worker.Store.CompleteAsync(lease, attempt, new JobResult("done", "model", new TokenUsage(1, 1))).Bounded());
        var live = await ApiFactory.SubmitPromptAsync(client, "live");

        // The one place: a stream of the queued job, which waits for its events.
        using var holder = await SseReader.OpenAsync(client, live, lastEventId: null);
        using (var refused = await ApiFactory.GetAsync(client, $"/jobs/{live}?wait=5"))
        {
            await ProblemAssert.IsProblemNamingAsync(refused, HttpStatusCode.ServiceUnavailable, "MaxConcurrentWaits");
        }

        using (var replay = await SseReader.OpenAsync(client, final, lastEventId: null))
        {
            Assert.Equal(["1 status queued", "2 status processing", "3 status completed", "4 done completed"],
                (await replay.ToEndAsync()).Select(e => e.Brief));
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/jobs/{final}/events");
        request.Headers.Add("Last-Event-ID", "4");
        using var seenAll = await client.SendAsync(request, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NoContent, seenAll.StatusCode);
        using var waited = await ApiFactory.GetAsync(client, $"/jobs/{final}?wait=5");
        Assert.Equal(HttpStatusCode.OK, waited.StatusCode);
    }

    /// <summary>The API with <c>Api:MaxConcurrentWaits</c> = 1.</summary>
    public sealed class OneWaitApiFactory : ApiFactory
    {
        /// <inheritdoc />
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseSetting("Api:MaxConcurrentWaits", "1");
        }
    }
}

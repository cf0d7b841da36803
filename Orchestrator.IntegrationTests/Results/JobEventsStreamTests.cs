using System.Net;

namespace Orchestrator.IntegrationTests.Results;

/// <summary>
/// Issue 19, "what it must show" 1: <c>GET /jobs/{id}/events</c> delivers the provider's streamed
/// text as <c>delta</c> events in order, and a client that drops the connection and reconnects with
/// <c>Last-Event-ID</c> gets the rest: no gap and no repeat (a real API, a real worker streaming from
/// the simulator over HTTP, a real Redis).
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class JobEventsStreamTests
{
    [Fact]
    public async Task Events_DeltasInOrder_ResumeByLastEventId_WithoutGapOrRepeat()
    {
        // 40 tokens at 20 a second: the answer streams in 8 chunks over about 2 s.
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.100",
            ["Simulator:TokensPerSecond"] = "20",
        });
        // The API serves the worker's models (it checks a job's model against them).
        var settings = Providers.ProviderSetup.Worker(simulator, more: new() { ["Worker:DeltaInterval"] = "00:00:00.050" });
        await using var setup = await ResultsSetup.StartAsync(settings);
        await setup.Harness.StartWorkerAsync(settings, "worker");
        var id = await setup.SubmitAsync("Tell me about leases.", maxTokens: 40);

        // First connection: read until three deltas arrived, then drop it.
        var first = await ReadEventsAsync(setup, id, lastEventId: null, stopAfterDeltas: 3);
        Assert.Equal(3, first.Count(e => e.Type == "delta"));
        // Second connection: resume after the last event seen, to the end.
        var second = await ReadEventsAsync(setup, id, lastEventId: first[^1].Id, stopAfterDeltas: null);
        Assert.Equal("done", second[^1].Type);

        // A fresh connection from the start sees exactly the two halves, in order.
        var whole = await ReadEventsAsync(setup, id, lastEventId: null, stopAfterDeltas: null);
        Assert.Equal(whole.Select(e => e.Id), first.Concat(second).Select(e => e.Id));
        Assert.Equal(whole.Select(e => e.Id).Distinct().Count(), whole.Count);

        var job = await setup.GetJobAsync(id);
        var text = string.Concat(whole.Where(e => e.Type == "delta").Select(e => e.Data["text"]!.GetValue<string>()));
        Assert.Equal(job["result"]!["text"]!.GetValue<string>(), text);
        Assert.True(whole.Count(e => e.Type == "delta") >= 4, $"{whole.Count(e => e.Type == "delta")} deltas");
        Assert.Equal(["queued", "processing", "completed"],
            whole.Where(e => e.Type == "status").Select(e => e.Data["status"]!.GetValue<string>()));
        Assert.Equal("completed", whole[^1].Data["status"]!.GetValue<string>());
        Assert.Equal(id, whole[^1].Data["jobId"]!.GetValue<string>());

        // After 'done', a reconnect has nothing left: 204 (an EventSource stops reconnecting).
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/jobs/{id}/events");
        request.Headers.Add("Last-Event-ID", whole[^1].Id);
        using var after = await setup.Client.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NoContent, after.StatusCode);
    }

    private static async Task<List<SseEvent>> ReadEventsAsync(ResultsSetup setup, string jobId, string? lastEventId, int? stopAfterDeltas)
    {
        using var stream = await SseReader.OpenAsync(setup.Client, jobId, lastEventId);
        var events = new List<SseEvent>();
        while (await stream.NextAsync() is { } e)
        {
            events.Add(e);
            if (e.Type == "done" || (stopAfterDeltas is { } n && events.Count(x => x.Type == "delta") == n))
            {
                break;
            }
        }

        return events;
    }
}

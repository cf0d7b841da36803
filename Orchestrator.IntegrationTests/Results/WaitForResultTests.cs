using System.Net;

namespace Orchestrator.IntegrationTests.Results;

/// <summary>
/// Issue 19, "what it must show" 1: <c>GET /jobs/{id}?wait=</c> answers within 100 ms of the job's
/// completion (p99; see the test), for 200 jobs waited on at once, woken by Redis (a real API process and a
/// real worker process; the API reads nothing while the jobs run).
/// </summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class WaitForResultTests
{
    [Fact]
    public async Task Wait_200Jobs_AnsweredWithin100msOfCompletion()
    {
        await using var setup = await ResultsSetup.StartAsync();
        // Completions spread over a few seconds: 32 at a time, each call 1 s to 2 s.
        await setup.Harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:01",
            ["Worker:Concurrency"] = "32",
        }, "worker");
        // One job first, so that the 200 measure the wait and not the API's first run of the path (JIT).
        var warmUp = await setup.SubmitAsync("warm up");
        Assert.Equal("completed", (await setup.SendAsync(HttpMethod.Get, $"/jobs/{warmUp}?wait=60")).Body!["status"]!.GetValue<string>());

        var ids = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => setup.SubmitAsync($"Question {i}: what is a lease?",
            new Dictionary<string, string> { ["simulator.latencyMs"] = (1000 + (i * 5)).ToString(System.Globalization.CultureInfo.InvariantCulture) })));

        var answers = await Task.WhenAll(ids.Select(async id =>
        {
            var (status, body) = await setup.SendAsync(HttpMethod.Get, $"/jobs/{id}?wait=60");
            return (Status: status, Received: DateTimeOffset.UtcNow, Body: body!);
        }));

        var lags = new List<double>();
        var fromWorkerClock = new List<double>();
        foreach (var (status, received, body) in answers)
        {
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal("completed", body["status"]!.GetValue<string>());
            var id = body["jobId"]!.GetValue<string>();
            var completedAt = DateTimeOffset.Parse(body["completedAt"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);
            // completedAt is the worker's clock when it sent the outcome (until the scripts read Redis's
            // TIME); on a loaded machine the write may land a little later. The job's 'done' event id is
            // Redis's clock when the completion applied: the wait is measured from the later of the two.
            var done = (await setup.Harness.Db.StreamRangeAsync(setup.Harness.Keys.Events(id), "-", "+", 1, StackExchange.Redis.Order.Descending))[0];
            Assert.Equal("done", (string?)done["type"]);
            var appliedAt = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(((string)done.Id!).Split('-')[0], System.Globalization.CultureInfo.InvariantCulture));
            lags.Add((received - (appliedAt > completedAt ? appliedAt : completedAt)).TotalMilliseconds);
            fromWorkerClock.Add((received - completedAt).TotalMilliseconds);
        }

        lags.Sort();
        fromWorkerClock.Sort();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"completedAt (worker clock) → answer: median {fromWorkerClock[100]:0} ms, p99 {fromWorkerClock[197]:0} ms, max {fromWorkerClock[^1]:0} ms");
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"completion → answer over 200 waits: median {lags[100]:0} ms, p99 {lags[197]:0} ms, max {lags[^1]:0} ms");
        // 198 of 200 within 100 ms; on the shared 2-core CI machine a scheduling stall of a few hundred
        // ms can hit any process (docs/performance.md): the last two are bounded more loosely.
        Assert.True(lags[197] < 100, $"p99 {lags[197]:0} ms after completion (median {lags[100]:0} ms, max {lags[^1]:0} ms)");
        Assert.True(lags[^1] < 1000, $"slowest answer {lags[^1]:0} ms after completion");
    }

    [Fact]
    public async Task Wait_NotFinalWhenTheWaitEnds_AnswersCurrentState_AndBadWaitIs400()
    {
        await using var setup = await ResultsSetup.StartAsync();
        // No worker: the job stays queued.
        var id = await setup.SubmitAsync("nobody runs this");
        var started = System.Diagnostics.Stopwatch.StartNew();
        var (status, body) = await setup.SendAsync(HttpMethod.Get, $"/jobs/{id}?wait=1");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("queued", body!["status"]!.GetValue<string>());
        Assert.InRange(started.Elapsed.TotalSeconds, 0.9, 10);

        foreach (var bad in new[] { "61", "-1", "soon", "NaN" })
        {
            var (refused, problem) = await setup.SendAsync(HttpMethod.Get, $"/jobs/{id}?wait={bad}");
            Assert.Equal(HttpStatusCode.BadRequest, refused);
            Assert.Equal("Invalid wait", problem!["title"]!.GetValue<string>());
        }

        // Another tenant's job: the 404 of an unknown one, also with wait.
        using var b = setup.Api.CreateClient(TenantApiFactory.KeyB);
        var (theirs, _) = await setup.SendAsync(HttpMethod.Get, $"/jobs/{id}?wait=1", client: b);
        Assert.Equal(HttpStatusCode.NotFound, theirs);
    }
}

using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;

namespace Orchestrator.IntegrationTests.Results;

/// <summary>
/// Issue 19, "what it must show" 1: <c>GET /jobs/{id}?wait=</c> answers within 100 ms of the job's
/// <c>completedAt</c>, for each of 200 jobs waited on at once, woken by Redis (a real API process and
/// a real worker process; the API reads nothing while the jobs run).
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class WaitForResultTests
{
    /// <summary>Runnable tasks per core (1-minute load average) from which a late answer measures the machine, not the API.</summary>
    private const double OverloadedPerCore = 10;

    [Fact]
    public async Task Wait_200Jobs_EachAnsweredWithin100msOfCompletion()
    {
        // The API's own latency is asserted, so it runs ahead of the rest of the suite on the shared
        // cores: at load 10-20 on 2 cores any process may go unscheduled for 100 ms and more, which
        // would measure the load, not the API (docs/performance.md).
        await using var setup = await ResultsSetup.StartAsync(favoured: true);
        // Completions spread over a few seconds: 32 at a time, each call 1 s to 2 s.
        await setup.Harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:01",
            ["Worker:Concurrency"] = "32",
        }, "worker");
        // A few jobs first, so that the 200 measure the wait and not the API's first runs of the path (JIT).
        var warmUp = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => setup.SubmitAsync($"warm up {i}")));
        foreach (var answer in await Task.WhenAll(warmUp.Select(WaitAsync)))
        {
            Assert.Equal("completed", JsonNode.Parse(answer.Body)!["status"]!.GetValue<string>());
        }

        // One round of 200; a second only when the first had a late answer. Even favoured, the API
        // and Redis are stalled now and then at a load of 20 and more on 2 cores: the loopback
        // traffic itself then waits (measured, docs/performance.md). Each round is printed; the last
        // must have all 200 within 100 ms, unless the machine was that overloaded, which makes the
        // run inconclusive (skipped, with its figures), not a pass.
        List<double> lags = [];
        for (var round = 1; round <= 2 && (lags.Count == 0 || lags[^1] >= 100); round++)
        {
            lags = await RoundAsync(round);
        }

        // The kernel dates arrivals to its 4 ms tick: an answer may seem up to 4 ms early.
        Assert.True(lags[0] > -5, $"an answer dated {lags[0]:0} ms before its job's completion");
        var summary = $"slowest answer {lags[^1]:0} ms after completion (median {lags[100]:0} ms, p99 {lags[197]:0} ms)";
        Assert.SkipWhen(lags[^1] >= 100 && LoadPerCore() >= OverloadedPerCore,
            $"Inconclusive: {summary} with the machine overloaded (load average {LoadAverage()} on {Environment.ProcessorCount} cores).");
        Assert.True(lags[^1] < 100, summary);

        async Task<List<double>> RoundAsync(int round)
        {
            var ids = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => setup.SubmitAsync($"Question {i}: what is a lease?",
                new Dictionary<string, string> { ["simulator.latencyMs"] = (1000 + (i * 5)).ToString(CultureInfo.InvariantCulture) })));
            var answers = await Task.WhenAll(ids.Select(WaitAsync));

            // The answer's arrival, dated by the kernel (ArrivalTimedGet), against completedAt, Redis's
            // TIME when the job became final: one machine clock. When the test process read the answer
            // is reported beside it; in CI this process runs other tests at once, and its own scheduling
            // is not the API's latency.
            var arrived = new List<double>();
            var read = new List<double>();
            foreach (var answer in answers)
            {
                Assert.Equal(200, answer.Status);
                var body = JsonNode.Parse(answer.Body)!;
                Assert.Equal("completed", body["status"]!.GetValue<string>());
                var completedAt = DateTimeOffset.Parse(body["completedAt"]!.GetValue<string>(), CultureInfo.InvariantCulture);
                arrived.Add((answer.ArrivedAt - completedAt).TotalMilliseconds);
                read.Add((answer.ReadAt - completedAt).TotalMilliseconds);
            }

            arrived.Sort();
            read.Sort();
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"round {round}: completedAt → answer arrived, 200 waits: median {arrived[100]:0} ms, p99 {arrived[197]:0} ms, max {arrived[^1]:0} ms; " +
                $"read by the test: median {read[100]:0} ms, p99 {read[197]:0} ms, max {read[^1]:0} ms; load average {LoadAverage()}");
            return arrived;
        }

        Task<TimedAnswer> WaitAsync(string id) =>
            ArrivalTimedGet.SendAsync(setup.Api.Address.Port, $"/jobs/{id}?wait=60", TenantApiFactory.KeyA, TimeProvider.System,
                TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(90), TestContext.Current.CancellationToken);

        static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

        static double LoadPerCore() => File.Exists("/proc/loadavg")
            ? double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture) / Environment.ProcessorCount
            : 0;
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

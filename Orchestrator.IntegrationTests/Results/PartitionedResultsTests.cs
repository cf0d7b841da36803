using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Results;

/// <summary>
/// <c>Jobs:Partitions</c> 6 on one real Redis, with real API and worker processes (issue 18): the
/// API's waits and the workers' cancels hear every partition's channel, and a tenant's
/// <c>MaxQueuedJobs</c> holds across the partitions its jobs land in.
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class PartitionedResultsTests
{
    private const int Partitions = 6;
    private const int MaxQueuedJobs = 5;

    private static readonly Dictionary<string, string> Layout = new() { ["Jobs:Partitions"] = $"{Partitions}" };

    [Fact]
    public async Task SixPartitions_QuotaHoldsFleetWide_WaitsAndCancelsReachEveryPartition()
    {
        await using var setup = await ResultsSetup.StartAsync(new Dictionary<string, string>(Layout)
        {
            [$"Tenants:{TenantApiFactory.TenantB}:MaxQueuedJobs"] = $"{MaxQueuedJobs}",
        });
        var run = Guid.NewGuid().ToString("N");

        // Tenant B's quota of 5, one job per partition asked: 5 accepted over 5 partitions, the 6th refused.
        using var b = setup.Api.CreateClient(TenantApiFactory.KeyB);
        var statuses = new List<HttpStatusCode>();
        for (var p = 0; p < Partitions; p++)
        {
            var (status, _) = await PostAsync(b, KeyIn(TenantApiFactory.TenantB, p, run), "quota");
            statuses.Add(status);
        }

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.Accepted, MaxQueuedJobs), HttpStatusCode.TooManyRequests], statuses);
        var backlog = 0L;
        for (var p = 0; p < Partitions; p++)
        {
            backlog += (long)await setup.Harness.Db.HashGetAsync($"{{orch:{p}}}:tenant:{TenantApiFactory.TenantB}:queued", "jobs");
        }

        Assert.Equal(MaxQueuedJobs, backlog);

        // The worker's attempts may last: only a cancel that reaches it ends the slow calls below.
        var worker = new Dictionary<string, string>(Layout)
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
            ["Retry:AttemptTimeout"] = "00:05:00",
        };
        await setup.Harness.StartWorkerAsync(worker, "worker");

        // One 3-second job per partition, awaited (?wait=60) while it runs: a wait ends before its
        // minute only when its partition's events channel wakes it (the API never polls; at the
        // timeout it reads the job once more), so each must answer completed well within the minute.
        var waits = new List<Task<(TimeSpan Took, JsonNode? Body)>>();
        for (var p = 0; p < Partitions; p++)
        {
            var id = (await PostAsync(setup.Client, KeyIn(TenantApiFactory.TenantA, p, run), "waited", latencyMs: 3_000)).JobId!;
            Assert.Equal(p, JobPartitions.Of(id, Partitions));
            waits.Add(TimedAsync(setup.SendAsync(HttpMethod.Get, $"/jobs/{id}?wait=60")));
        }

        foreach (var answer in await Task.WhenAll(waits))
        {
            Assert.Equal("completed", answer.Body!["status"]!.GetValue<string>());
            Assert.True(answer.Took < TimeSpan.FromSeconds(45), $"a wait took {answer.Took.TotalSeconds:0} s: woken by its timeout, not by the events channel");
        }

        // One three-minute call per partition, canceled while it runs: only a worker that hears the
        // partition's cancel channel stops the call; else the job is still processing a minute later.
        var slow = new List<string>();
        for (var p = 0; p < Partitions; p++)
        {
            slow.Add((await PostAsync(setup.Client, KeyIn(TenantApiFactory.TenantA, p, run + "-slow"), "slow", latencyMs: 180_000)).JobId!);
        }

        await AsyncWait.WaitUntilAsync(async () => (await Task.WhenAll(slow.Select(setup.GetJobAsync))).All(j => j["status"]!.GetValue<string>() == "processing"),
            TimeSpan.FromSeconds(60), "every slow job is processing", TimeSpan.FromMilliseconds(100));
        foreach (var (status, _) in await Task.WhenAll(slow.Select(id => setup.SendAsync(HttpMethod.Post, $"/jobs/{id}/cancel"))))
        {
            Assert.True(status is HttpStatusCode.OK or HttpStatusCode.Accepted, $"cancel answered {(int)status}");
        }

        foreach (var answer in await Task.WhenAll(slow.Select(id => setup.SendAsync(HttpMethod.Get, $"/jobs/{id}?wait=60"))))
        {
            Assert.Equal("canceled", answer.Body!["status"]!.GetValue<string>());
        }
    }

    private static async Task<(TimeSpan Took, JsonNode? Body)> TimedAsync(Task<(HttpStatusCode Status, JsonNode? Body)> request)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (_, body) = await request;
        return (clock.Elapsed, body);
    }

    // An idempotency key of the tenant whose jobs land in partition p.
    private static string KeyIn(string tenant, int partition, string run)
    {
        for (var i = 0; ; i++)
        {
            var key = $"{run}-{partition}-{i}";
            if (JobPartitions.OfIdempotencyKey(tenant, key, Partitions) == partition)
            {
                return key;
            }
        }
    }

    private static async Task<(HttpStatusCode Status, string? JobId)> PostAsync(HttpClient client, string key, string prompt, int? latencyMs = null)
    {
        var body = new JsonObject { ["prompt"] = prompt };
        if (latencyMs is { } ms)
        {
            body["metadata"] = new JsonObject { ["simulator.latencyMs"] = $"{ms}" };
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", key);
        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, response.StatusCode == HttpStatusCode.Accepted ? JsonNode.Parse(text)!["jobId"]!.GetValue<string>() : null);
    }
}

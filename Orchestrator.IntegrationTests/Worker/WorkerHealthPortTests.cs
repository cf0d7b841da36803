using System.Net;
using System.Text.RegularExpressions;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// Two workers started by hand on one host (no <c>ASPNETCORE_URLS</c>): each binds its health endpoint
/// to a free port (<c>Worker:HealthPort</c> = 0), both answer /health, and both process jobs.
/// </summary>
[Collection(WorkerProcessCollection.Name)]
public sealed partial class WorkerHealthPortTests
{
    private static readonly Dictionary<string, string> ByHand = new()
    {
        ["Simulator:FailureRate"] = "0",
        ["Simulator:Latency"] = "00:00:00.005",
        // As a person starting "dotnet Orchestrator.Worker.dll" twice: no URL configured.
        ["ASPNETCORE_URLS"] = "",
    };

    [Fact]
    public async Task TwoWorkersOnOneHostWithoutUrls_BothServeHealthAndProcessJobs()
    {
        await using var harness = await WorkerHarness.StartAsync();
        WorkerProcess[] workers = [await harness.StartWorkerAsync(ByHand, "worker-1"), await harness.StartWorkerAsync(ByHand, "worker-2")];
        await harness.WaitUntilWorkersListenAsync(2);

        var jobIds = await harness.SubmitManyAsync(300, maxAttempts: 3);
        var jobs = await harness.WaitUntilAllFinalAsync(jobIds, TimeSpan.FromSeconds(120));

        Assert.All(jobs, job => Assert.Equal(JobStatus.Completed, job.Status));
        await AsyncWait.WaitUntilAsync(() => workers.Sum(w => w.CompletedJobIds().Count) >= jobIds.Count,
            TimeSpan.FromSeconds(30), "both workers have logged their completions");
        Assert.All(workers, w => Assert.NotEmpty(w.CompletedJobIds()));
        var addresses = workers.Select(w => Listening().Match(w.Output).Groups["address"].Value).ToList();
        Assert.All(addresses, a => Assert.StartsWith("http://127.0.0.1:", a, StringComparison.Ordinal));
        Assert.NotEqual(addresses[0], addresses[1]);
        using var client = new HttpClient { Timeout = WorkerHarness.CommandTimeout };
        foreach (var address in addresses)
        {
            using var health = await client.GetAsync(new Uri(new Uri(address), "/health"), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }
    }

    [GeneratedRegex(@"Now listening on: (?<address>http://\S+)")]
    private static partial Regex Listening();
}

using Orchestrator.IntegrationTests.Worker;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// Jobs waiting for one deployment's requests limit go in the order they first asked, across a
/// fleet: each booked its slot (<c>reserve.lua</c>), kept it through a deferral to the delayed set
/// and went at it without racing jobs that came later. Before, whoever asked first when capacity
/// freed went: 4 to 6 of ten jobs finished after ten submitted 3 s later. Real Redis, two real
/// worker processes, the simulator over HTTP.
/// </summary>
public sealed class BookedOrderTests
{
    [Fact]
    public async Task UnderARequestsLimit_EarlierJobsAllFinishBeforeLaterOnes_AcrossTwoWorkers()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.020",
        });
        // 60 requests a minute with a 2 s burst: two calls at once, then one a second; waits past
        // Worker:MaxInProcessDelay (5 s, the default) park the job in the delayed set.
        var settings = ProviderSetup.Worker(simulator, requestsPerMinute: 60);
        await harness.StartWorkerAsync(settings, "worker-1");
        await harness.StartWorkerAsync(settings, "worker-2");

        var first = await ProviderSetup.SubmitManyAsync(harness, 10, "first");
        // The later ten come once the first have all asked (some answered, the rest booked).
        await AsyncWait.WaitUntilAsync(async () => (await harness.GetAllAsync(first)).Count(j => j.Status == JobStatus.Completed) >= 3,
            TimeSpan.FromSeconds(60), "three of the first ten completed", TimeSpan.FromMilliseconds(50));
        var second = await ProviderSetup.SubmitManyAsync(harness, 10, "second");

        var jobs = await harness.WaitUntilAllFinalAsync([.. first, .. second], TimeSpan.FromSeconds(120));

        Assert.All(jobs, j => Assert.Equal(JobStatus.Completed, j.Status));
        Assert.All(jobs, j => Assert.Equal(1, j.Attempts));
        var lastOfFirst = jobs.Take(10).Max(j => j.CompletedAt!.Value);
        var firstOfSecond = jobs.Skip(10).Min(j => j.CompletedAt!.Value);
        var overtaken = jobs.Take(10).Count(j => j.CompletedAt > firstOfSecond);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"first ten done by {lastOfFirst:HH:mm:ss.fff}, second ten from {firstOfSecond:HH:mm:ss.fff}; {overtaken} of the first ten finished after one of the second");
        Assert.Equal(0, overtaken);
    }
}

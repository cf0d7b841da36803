using Orchestrator.IntegrationTests.Worker;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// Jobs waiting for one deployment's concurrency permits go in the order they first asked, across a
/// fleet (<c>reserve.lua</c>'s permit queue), as jobs waiting for its requests limit go by their
/// booked slots (<see cref="BookedOrderTests"/>). Before, a freed permit went to whichever waiting
/// call asked first: jobs of a later burst overtook earlier ones. Real Redis, two real worker
/// processes, the simulator over HTTP.
/// </summary>
public sealed class PermitOrderTests
{
    [Fact]
    public async Task UnderAConcurrencyLimit_EarlierJobsAllFinishBeforeLaterOnes_AcrossTwoWorkers()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.150",
        });
        // One call at a time for the fleet: every other job waits for the permit in its worker.
        var settings = ProviderSetup.Worker(simulator, maxConcurrency: 1);
        await harness.StartWorkerAsync(settings, "worker-1");
        await harness.StartWorkerAsync(settings, "worker-2");

        var first = await ProviderSetup.SubmitManyAsync(harness, 8, "first");
        // The later eight come once the first have all asked (some answered, the rest waiting).
        await AsyncWait.WaitUntilAsync(async () => (await harness.GetAllAsync(first)).Count(j => j.Status == JobStatus.Completed) >= 2,
            TimeSpan.FromSeconds(60), "two of the first eight completed", TimeSpan.FromMilliseconds(20));
        var second = await ProviderSetup.SubmitManyAsync(harness, 8, "second");

        var jobs = await harness.WaitUntilAllFinalAsync([.. first, .. second], TimeSpan.FromSeconds(120));

        Assert.All(jobs, j => Assert.Equal(JobStatus.Completed, j.Status));
        var firstOfSecond = jobs.Skip(8).Min(j => j.CompletedAt!.Value);
        var overtaken = jobs.Take(8).Count(j => j.CompletedAt > firstOfSecond);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"first eight done by {jobs.Take(8).Max(j => j.CompletedAt!.Value):HH:mm:ss.fff}, second eight from {firstOfSecond:HH:mm:ss.fff}; {overtaken} of the first eight finished after one of the second");
        Assert.Equal(0, overtaken);
    }
}

using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>Two worker processes on one queue share the work, and no job runs twice.</summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class WorkerScaleOutTests
{
    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Simulator:FailureRate"] = "0",
        ["Simulator:Latency"] = "00:00:00.005",
    };

    [Fact]
    public async Task TwoWorkers500Jobs_EachJobCompletedOnceWithOneAttempt()
    {
        await using var harness = await WorkerHarness.StartAsync();
        WorkerProcess[] workers =
        [
            await harness.StartWorkerAsync(Settings, "worker-1"),
            await harness.StartWorkerAsync(Settings, "worker-2"),
        ];
        // Both listen for ready work (so both dispatch) before any job exists.
        await harness.WaitUntilWorkersListenAsync(2);

        var jobIds = await harness.SubmitManyAsync(500, maxAttempts: 5);
        var jobs = await harness.WaitUntilAllFinalAsync(jobIds, TimeSpan.FromSeconds(120));

        Assert.All(jobs, job =>
        {
            Assert.Equal(JobStatus.Completed, job.Status);
            Assert.Equal(1, job.Attempts);
            Assert.Equal(AttemptOutcome.Succeeded, Assert.Single(job.History).Outcome);
            Assert.NotNull(job.Result);
        });
        Assert.Equal(0, await harness.StreamLengthAsync());
        Assert.Equal(0, await harness.PendingCountAsync());

        // Who did what, from each worker's "Job … completed" log lines: every job by exactly one worker, both busy.
        // The console logger writes asynchronously, so wait until all 500 lines are out.
        await AsyncWait.WaitUntilAsync(() => workers.Sum(w => w.CompletedJobIds().Count) >= 500,
            TimeSpan.FromSeconds(30), "both workers have logged their completions");
        var byWorker = workers.Select(w => w.CompletedJobIds()).ToList();
        Assert.Equal(500, byWorker.Sum(ids => ids.Count));
        Assert.Equal(jobIds.Order(StringComparer.Ordinal), byWorker.SelectMany(ids => ids).Order(StringComparer.Ordinal));
        Assert.All(byWorker, ids => Assert.NotEmpty(ids));
        TestContext.Current.TestOutputHelper?.WriteLine($"completions per worker: {string.Join(", ", byWorker.Select(ids => ids.Count))}");
    }
}

using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// A job that kills its worker process, among healthy ones, with the worker restarted whenever it
/// dies (as an orchestrator would): the job is isolated (the dead worker's jobs run again as a group
/// of suspects, and after that group dies too, each alone), dead-lettered as poison-job after
/// Worker:MaxCrashes crashes while alone, and every healthy job completes.
/// Regression: every job in flight in the dead worker was charged a worker-lost attempt per crash,
/// so after Retry:MaxAttempts crashes the healthy neighbours were dead-lettered too.
/// </summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class PoisonIsolationTests
{
    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Simulator:FailureRate"] = "0",
        ["Simulator:Latency"] = "00:00:00.3",
        ["Simulator:AllowCrashHint"] = "true",
        ["Worker:Concurrency"] = "8",
        ["Worker:LeaseTimeout"] = "00:00:02",
        ["Worker:ReclaimInterval"] = "00:00:00.2",
        ["Retry:BaseDelay"] = "00:00:00.1",
    };

    [Fact]
    public async Task CrashHintJobAmong30Healthy_WorkerRestartedWhenItDies_PoisonJobFailedAllOthersCompleted()
    {
        await using var harness = await WorkerHarness.StartAsync();
        const int poisonIndex = 5;
        // Retry:MaxAttempts 2: under the old rule two crashes shared with the poison job would dead-letter a neighbour.
        var ids = await harness.SubmitManyAsync(31, maxAttempts: 2,
            i => i == poisonIndex ? new Dictionary<string, string> { ["simulator.crashProcess"] = "true" } : null);
        var poisonId = ids[poisonIndex];

        var worker = await harness.StartWorkerAsync(Settings, "worker-1");
        var started = 1;
        IReadOnlyList<Job> jobs = [];
        await AsyncWait.WaitUntilAsync(
            async () =>
            {
                if (worker.HasExited)
                {
                    Assert.InRange(started, 1, 10);
                    worker = await harness.StartWorkerAsync(Settings, $"worker-{++started}");
                }

                jobs = await harness.GetAllAsync(ids);
                return jobs.All(j => JobStatus.IsTerminal(j.Status));
            },
            TimeSpan.FromSeconds(240), "every job is final", TimeSpan.FromMilliseconds(100));

        TestContext.Current.TestOutputHelper?.WriteLine($"worker processes started: {started}");
        var poison = jobs[poisonIndex];
        Assert.Equal(JobStatus.Failed, poison.Status);
        Assert.Equal("poison-job", poison.Error?.Type);
        Assert.All(poison.History, a => Assert.Equal(AttemptOutcome.WorkerLost, a.Outcome));
        // One crash beside others (whoever was running), one in its group of suspects (unless the
        // group was of one), then two alone: three or four worker deaths.
        Assert.True(started >= 3, $"only {started} worker processes ran");
        Assert.All(jobs.Where(j => j.Id != poisonId), job =>
        {
            Assert.Equal(JobStatus.Completed, job.Status);
            Assert.Equal(AttemptOutcome.Succeeded, job.History[^1].Outcome);
            // A neighbour loses at most two attempts, uncharged: one beside the crashing job while it
            // was an ordinary job, one in its group of suspects; after that the crasher runs alone.
            Assert.True(job.History.Count(a => a.Outcome == AttemptOutcome.WorkerLost) <= 2, $"{job.Id}: {string.Join(", ", job.History.Select(a => a.Outcome))}");
        });
    }
}

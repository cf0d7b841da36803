using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>A worker killed (SIGKILL) mid-flight: another worker takes every job over once its lease lapses.</summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class WorkerCrashTests
{
    private static readonly Dictionary<string, string> Settings = new()
    {
        ["Simulator:FailureRate"] = "0",
        ["Simulator:Latency"] = "00:00:01",
        ["Worker:LeaseTimeout"] = "00:00:02",
        ["Worker:ReclaimInterval"] = "00:00:00.2",
        // Every job in flight at once, so the kill catches all of them mid-call.
        ["Worker:Concurrency"] = "64",
        ["Retry:BaseDelay"] = "00:00:00.1",
    };

    [Fact]
    public async Task KilledWithJobsInFlight_SecondWorkerCompletesEachJobExactlyOnce()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var first = await harness.StartWorkerAsync(Settings, "worker-1");
        var jobIds = await harness.SubmitManyAsync(40, maxAttempts: 5);

        await AsyncWait.WaitUntilAsync(
            async () => (await harness.GetAllAsync(jobIds)).Count(j => j.Status == JobStatus.Processing) >= 20,
            TimeSpan.FromSeconds(30), "worker-1 is running at least 20 of the 40 jobs", TimeSpan.FromMilliseconds(20));
        await first.KillAsync();

        // The process is dead: this is exactly the state it left behind.
        var atKill = (await harness.GetAllAsync(jobIds)).ToDictionary(j => j.Id);
        var inFlight = atKill.Values.Where(j => j.Status == JobStatus.Processing).Select(j => j.Id).ToHashSet();
        Assert.True(inFlight.Count >= 1, $"no job was in flight when worker-1 died ({WorkerHarness.Describe(atKill.Values)})");

        await harness.StartWorkerAsync(Settings, "worker-2");
        var jobs = await harness.WaitUntilAllFinalAsync(jobIds, TimeSpan.FromSeconds(90));

        Assert.All(jobs, job =>
        {
            Assert.Equal(JobStatus.Completed, job.Status);
            Assert.NotNull(job.Result);
            Assert.Single(job.History, a => a.Outcome == AttemptOutcome.Succeeded);
            Assert.Equal(job.History.Count, job.Attempts);
            Assert.Equal(Enumerable.Range(1, job.History.Count), job.History.Select(a => a.Attempt));
            Assert.All(job.History, a => Assert.NotNull(a.EndedAt));

            var before = atKill[job.Id];
            if (inFlight.Contains(job.Id))
            {
                // Attempt 1 died with worker-1 and counts; attempt 2 (worker-2) answered.
                Assert.Equal([AttemptOutcome.WorkerLost, AttemptOutcome.Succeeded], job.History.Select(a => a.Outcome));
                Assert.Equal("worker-lost", job.History[0].Error?.Type);
            }
            else if (before.Status == JobStatus.Completed)
            {
                // Finished by worker-1 before it died: untouched since.
                Assert.Equal(before.CompletedAt, job.CompletedAt);
                Assert.Equal(before.Result, job.Result);
                Assert.Equal([AttemptOutcome.Succeeded], job.History.Select(a => a.Outcome));
            }
            else
            {
                // Never started (queued or delivered but not yet claimed): one clean attempt.
                Assert.Equal([AttemptOutcome.Succeeded], job.History.Select(a => a.Outcome));
            }
        });
        Assert.Equal(0, await harness.StreamLengthAsync());
        Assert.Equal(0, await harness.PendingCountAsync());

        // The dead worker's jobs are suspects that ran again together (a group, or a few if the
        // reclaim took them in rounds), not one after another: that would take a second per job.
        var retried = jobs.Where(j => inFlight.Contains(j.Id)).Select(j => j.History[1]).ToArray();
        var span = retried.Max(a => a.EndedAt!.Value) - retried.Min(a => a.StartedAt);
        Assert.True(span < TimeSpan.FromSeconds(Math.Max(2.5, inFlight.Count * 0.5)),
            $"the {inFlight.Count} suspects' attempts spanned {span.TotalSeconds:0.0} s");
    }
}

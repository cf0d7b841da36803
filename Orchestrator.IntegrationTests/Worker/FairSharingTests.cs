using System.Diagnostics;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// Issue 16's fair sharing and priorities through a real worker process on a real Redis
/// (<c>dispatch.lua</c>): a small tenant is served promptly beside a big backlog, backlogged tenants
/// share by weight, a <c>high</c> job overtakes its tenant's backlog, and a <c>low</c> one ages.
/// One worker with <c>Worker:Concurrency</c> 4 and 100 ms calls (40 jobs/s), as the issue states it.
/// </summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class FairSharingTests
{
    private const string Big = "tenant-a";
    private const string Small = "tenant-b";
    private static readonly TimeSpan LowPriorityWait = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan WeightWindow = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task BacklogOfOneTenant_SmallTenantServedPromptly_WeightsShareThreeToOne_HighOvertakes_LowAges()
    {
        var output = TestContext.Current.TestOutputHelper;
        await using var harness = await WorkerHarness.StartAsync();
        await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            [$"Tenants:{Big}:Weight"] = "3",
            ["Scheduling:MaxLowPriorityWait"] = LowPriorityWait.ToString(),
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.100",
            ["Worker:Concurrency"] = "4",
        }, "worker");

        // A submits 1,000 jobs; once it is being served, B submits 10: all of B's complete before A
        // completes 60 more.
        await SubmitAsync(harness, Big, 1_000);
        await WaitUntilAsync(async () => await FinalAsync(harness, Big, 1_000) >= 20, "A is being served");
        var bigBefore = await FinalAsync(harness, Big, 1_000);
        var smallJobs = await SubmitAsync(harness, Small, 10);
        await WaitUntilAsync(async () => await FinalAsync(harness, Small, 10) == 10, "all of B's jobs are final");
        var bigDuring = await FinalAsync(harness, Big, 1_000) - bigBefore;
        output?.WriteLine($"A completed {bigDuring} jobs while B's 10 ran");
        Assert.True(bigDuring < 60, $"A completed {bigDuring} jobs while B's 10 ran; the bound is 60");
        Assert.All(await harness.GetAllAsync(smallJobs), j => Assert.Equal(JobStatus.Completed, j.Status));

        // A high job behind A's backlog of normal ones starts within 1 s.
        var high = await SubmitAsync(harness, Big, 1, JobPriority.High);
        var highJob = await WaitStartedAsync(harness, high[0]);
        var highWait = highJob.FirstAttemptAt!.Value - highJob.CreatedAt;
        output?.WriteLine($"high job started {highWait.TotalMilliseconds:0} ms after it was queued");
        Assert.True(highWait <= TimeSpan.FromSeconds(1), $"the high job started {highWait} after it was queued");

        // A low job behind the same backlog (hundreds of seconds of work at A's share) starts once it has
        // waited MaxLowPriorityWait, not after the backlog.
        var low = await SubmitAsync(harness, Big, 1, JobPriority.Low);
        var lowJob = await WaitStartedAsync(harness, low[0]);
        var lowWait = lowJob.FirstAttemptAt!.Value - lowJob.CreatedAt;
        output?.WriteLine($"low job started {lowWait.TotalMilliseconds:0} ms after it was queued (MaxLowPriorityWait {LowPriorityWait.TotalMilliseconds:0} ms)");
        Assert.True(lowWait >= LowPriorityWait - TimeSpan.FromMilliseconds(100), $"the low job started after {lowWait}, before its aging");
        Assert.True(lowWait <= LowPriorityWait + TimeSpan.FromSeconds(1), $"the low job started after {lowWait}; MaxLowPriorityWait is {LowPriorityWait}");

        // Both backlogged at weights 3 : 1: completions split 3 : 1 within ±15 %.
        await SubmitAsync(harness, Small, 600);
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken); // past the jobs already in flight
        var (big0, small0) = (await FinalAsync(harness, Big, 1_002), await FinalAsync(harness, Small, 610));
        var window = Stopwatch.StartNew();
        await Task.Delay(WeightWindow, TestContext.Current.CancellationToken);
        var (big1, small1) = (await FinalAsync(harness, Big, 1_002), await FinalAsync(harness, Small, 610));
        var (bigServed, smallServed) = (big1 - big0, small1 - small0);
        var ratio = (double)bigServed / smallServed;
        output?.WriteLine($"over {window.Elapsed.TotalSeconds:0.0} s: A {bigServed}, B {smallServed}, ratio {ratio:0.00} (weights 3 : 1)");
        Assert.True(big1 < 1_002 && small1 < 610, "both tenants stayed backlogged over the window");
        Assert.InRange(ratio, 3 * 0.85, 3 * 1.15);
    }

    private static Task<IReadOnlyList<string>> SubmitAsync(WorkerHarness harness, string tenant, int count, string? priority = null) =>
        harness.SubmitForTenantAsync(tenant, count, r => r with { Priority = priority });

    /// <summary>The tenant's final jobs out of <paramref name="submitted"/>, from its backlog counter (jobs not yet final).</summary>
    private static async Task<long> FinalAsync(WorkerHarness harness, string tenant, long submitted) =>
        submitted - (long)await harness.Db.HashGetAsync(harness.Keys.TenantBacklog(tenant), "jobs").Bounded();

    private static async Task<Job> WaitStartedAsync(WorkerHarness harness, string jobId)
    {
        Job? job = null;
        await WaitUntilAsync(async () => (job = await harness.GetAsync(jobId)).FirstAttemptAt is not null, $"job {jobId} has started");
        return job!;
    }

    private static Task WaitUntilAsync(Func<Task<bool>> condition, string because) =>
        AsyncWait.WaitUntilAsync(condition, TimeSpan.FromSeconds(30), because, TimeSpan.FromMilliseconds(20));
}

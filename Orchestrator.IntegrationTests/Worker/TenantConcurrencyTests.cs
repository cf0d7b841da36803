using System.Diagnostics;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// Issue 16's <c>Tenants:{t}:MaxConcurrency</c> across real worker processes on one real Redis:
/// permits leased in <c>{orch}:tenant:&lt;t&gt;:permits</c>, taken by the script that moves a job
/// to <c>processing</c> and returned by the one that ends its attempt, so the tenant never has more
/// jobs <c>processing</c> than its limit whichever workers run them; a worker killed with SIGKILL
/// stops renewing and its permits lapse within one lease.
/// </summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class TenantConcurrencyTests
{
    private const string Tenant = "tenant-a";
    private const string Other = "tenant-b";

    private static Dictionary<string, string> WorkerSettings(string latency, string leaseTimeout = "00:00:30") => new()
    {
        [$"Tenants:{Tenant}:MaxConcurrency"] = "2",
        ["Simulator:FailureRate"] = "0",
        ["Simulator:Latency"] = latency,
        ["Worker:Concurrency"] = "4",
        ["Worker:LeaseTimeout"] = leaseTimeout,
    };

    [Fact]
    public async Task MaxConcurrency2_ThreeWorkers_NeverMoreThanTwoProcessing_SampledEvery50ms_AllComplete()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var workers = new List<WorkerProcess>();
        for (var i = 1; i <= 3; i++)
        {
            workers.Add(await harness.StartWorkerAsync(WorkerSettings("00:00:00.300"), $"worker-{i}"));
        }

        // Submitted once all three read, so that every worker takes some.
        var ids = await SubmitAsync(harness, Tenant, 12);
        var others = await SubmitAsync(harness, Other, 6);

        var maxProcessing = 0;
        var samples = 0;
        var timeout = Stopwatch.StartNew();
        while (true)
        {
            var statuses = await StatusesAsync(harness, ids);
            var processing = statuses.Count(s => s == JobStatus.Processing);
            Assert.True(processing <= 2, $"{processing} of {Tenant}'s jobs processing at once (sample {samples}): {string.Join(", ", statuses)}");
            maxProcessing = Math.Max(maxProcessing, processing);
            samples++;
            if (statuses.All(s => s is not null && JobStatus.IsTerminal(s)) || timeout.Elapsed > TimeSpan.FromSeconds(120))
            {
                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), TestContext.Current.CancellationToken);
        }

        var jobs = await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(5));
        Assert.All(jobs, j => Assert.Equal(JobStatus.Completed, j.Status));
        // The limit was reached (the test could see a third), and the jobs were spread over the workers.
        Assert.Equal(2, maxProcessing);
        Assert.True(workers.Count(w => w.CompletedJobIds().Intersect(ids).Any()) >= 2,
            string.Join("; ", workers.Select(w => $"{w.Name}: {w.CompletedJobIds().Intersect(ids).Count()}")));
        // A tenant without a limit is not limited by another's. (Held jobs wait in their worker's
        // slots until the delayed set takes them out, so B's jobs may queue behind A's held ones.)
        Assert.All(await harness.WaitUntilAllFinalAsync(others, TimeSpan.FromSeconds(60)), j => Assert.Equal(JobStatus.Completed, j.Status));
        // Every permit was returned.
        Assert.Equal(0, await harness.Db.SortedSetLengthAsync(PermitsKey(harness)).Bounded());
    }

    [Fact]
    public async Task MaxConcurrency2_WorkerKilled_ItsPermitsLapseWithinOneLease_ThenTheJobsRunElsewhere()
    {
        var lease = TimeSpan.FromSeconds(3);
        await using var harness = await WorkerHarness.StartAsync();
        var ids = await SubmitAsync(harness, Tenant, 4);
        // Long calls: the first worker holds both permits while it is killed.
        var doomed = await harness.StartWorkerAsync(WorkerSettings("00:01:00", "00:00:03"), "doomed");
        // A permit is taken when its job is dispatched, just before the job's attempt starts.
        await AsyncWait.WaitUntilAsync(
            async () => await LivePermitsAsync(harness) == 2 && (await StatusesAsync(harness, ids)).Count(s => s == JobStatus.Processing) == 2,
            TimeSpan.FromSeconds(30), "the first worker holds both permits and runs both jobs");

        await doomed.KillAsync();
        var killed = Stopwatch.StartNew();
        await AsyncWait.WaitUntilAsync(async () => await LivePermitsAsync(harness) == 0, lease + TimeSpan.FromSeconds(5),
            "the killed worker's permits have lapsed", TimeSpan.FromMilliseconds(50));
        var lapsed = killed.Elapsed;
        TestContext.Current.TestOutputHelper?.WriteLine($"permits lapsed {lapsed.TotalMilliseconds:0} ms after the kill (lease {lease.TotalMilliseconds:0} ms)");
        // Renewed every third of the lease, so the last renewal was at most a lease before the kill.
        Assert.True(lapsed <= lease + TimeSpan.FromSeconds(1), $"permits lapsed {lapsed} after the kill; the lease is {lease}");

        // Another worker takes the jobs over once their leases lapse and finishes them all.
        await harness.StartWorkerAsync(WorkerSettings("00:00:00.100", "00:00:03"), "survivor");
        var jobs = await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(90));
        Assert.All(jobs, j => Assert.Equal(JobStatus.Completed, j.Status));
        Assert.Equal(0, await LivePermitsAsync(harness));
    }

    /// <summary>
    /// A limited tenant's job whose retry finds every permit taken goes back to its tenant's ready set
    /// (requeue.lua), holding no slot: another tenant keeps the rest of the worker. Before, each such
    /// retry waited in its worker for a permit, holding a slot, while dispatch gave the permits that
    /// came free to the tenant's new jobs (an outside audit: another tenant kept 28–49 % of its
    /// throughput beside a MaxConcurrency 2 tenant whose calls failed half the time).
    /// </summary>
    [Fact]
    public async Task RetriesOfATenantAtItsLimit_WaitInItsReadySet_AnotherTenantKeepsTheFreeSlots()
    {
        await using var harness = await WorkerHarness.StartAsync();
        _ = await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            [$"Tenants:{Tenant}:MaxConcurrency"] = "1",
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.200",
            ["Worker:Concurrency"] = "4",
            ["Retry:BaseDelay"] = "00:00:00.050",
            ["Retry:MaxDelay"] = "00:00:00.100",
            // The failures are the tenant's own jobs': they must not open the deployment's circuit,
            // which would stop every tenant's calls.
            ["Llm:CircuitFailureRatio"] = "1",
            ["Llm:CircuitMinimumThroughput"] = "1000000",
        }, "worker");

        // Every job of the limited tenant fails twice before it succeeds: each retry asks for the permit
        // that dispatch has meanwhile given to the tenant's next job.
        var limited = await harness.SubmitForTenantAsync(Tenant, 24, r => r with { Metadata = new Dictionary<string, string> { ["simulator.failFirstAttempts"] = "2" } });
        await AsyncWait.WaitUntilAsync(
            async () => (await harness.GetAllAsync(limited)).Count(j => j.Attempts > 0) >= 4,
            TimeSpan.FromSeconds(30), "the limited tenant's jobs are running and retrying");

        var submitted = Stopwatch.StartNew();
        var others = await SubmitAsync(harness, Other, 30);
        // Meanwhile no retry of the limited tenant waits in the worker past its due time: each one that
        // finds the permit taken goes back to the ready set at once.
        var heldInWorker = 0;
        while (!(await StatusesAsync(harness, others)).All(s => s == JobStatus.Completed) && submitted.Elapsed < TimeSpan.FromSeconds(60))
        {
            heldInWorker = Math.Max(heldInWorker, await RetriesHeldInAWorkerAsync(harness, limited, TimeSpan.FromSeconds(1)));
            await Task.Delay(TimeSpan.FromMilliseconds(50), TestContext.Current.CancellationToken);
        }

        Assert.All(await harness.WaitUntilAllFinalAsync(others, TimeSpan.FromSeconds(5)), j => Assert.Equal(JobStatus.Completed, j.Status));
        var elapsed = submitted.Elapsed;
        TestContext.Current.TestOutputHelper?.WriteLine($"the other tenant's 30 jobs of 200 ms completed in {elapsed.TotalMilliseconds:0} ms on 4 slots; at most {heldInWorker} retries held in the worker over 1 s past due");
        Assert.Equal(0, heldInWorker);
        // Three slots are the other tenant's: 30 × 200 ms / 3 = 2 s (4.5 s before, the retries holding slots).
        Assert.True(elapsed < TimeSpan.FromSeconds(10), $"the other tenant's jobs took {elapsed}");
        Assert.All(await harness.WaitUntilAllFinalAsync(limited, TimeSpan.FromSeconds(120)), j => Assert.Equal((JobStatus.Completed, 3), (j.Status, j.Attempts)));
    }

    /// <summary>
    /// A job waiting for its retry holds no permit: with MaxConcurrency 1, the tenant's next job runs
    /// during the wait. No test failed when the retry path kept the permit (an outside audit's
    /// mutation of finish-attempt.lua: the next job waited for the retried one to complete, 4.1 s).
    /// </summary>
    [Fact]
    public async Task MaxConcurrency1_AJobWaitingForItsRetryHoldsNoPermit_TheTenantsNextJobRunsMeanwhile()
    {
        await using var harness = await WorkerHarness.StartAsync();
        _ = await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            [$"Tenants:{Tenant}:MaxConcurrency"] = "1",
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.050",
            ["Retry:BaseDelay"] = "00:00:04",
            ["Retry:MaxDelay"] = "00:00:04",
            ["Retry:UseJitter"] = "false",
        }, "worker");
        var retried = Assert.Single(await harness.SubmitForTenantAsync(Tenant, 1, r => r with { Metadata = new Dictionary<string, string> { ["simulator.failFirstAttempts"] = "1" } }));
        await AsyncWait.WaitUntilAsync(
            async () => (await harness.GetAllAsync([retried])).Single() is { Status: JobStatus.Retrying, History.Count: 1 },
            TimeSpan.FromSeconds(30), "the first attempt failed, the retry waits", TimeSpan.FromMilliseconds(20));

        var next = Assert.Single(await SubmitAsync(harness, Tenant, 1));

        var jobs = await harness.WaitUntilAllFinalAsync([retried, next], TimeSpan.FromSeconds(30));
        var (first, second) = (jobs.Single(j => j.Id == retried), jobs.Single(j => j.Id == next));
        Assert.Equal([AttemptOutcome.TransientFailure, AttemptOutcome.Succeeded], first.History.Select(a => a.Outcome));
        Assert.Equal(JobStatus.Completed, second.Status);
        Assert.True(second.CompletedAt < first.History[1].StartedAt,
            $"the next job completed at {second.CompletedAt:O}, after the retry started at {first.History[1].StartedAt:O}: the retry's wait held the permit");
    }

    [Fact]
    public async Task SuspectsOfATenantAtItsLimit_GoBackToTheReadySet_TheWorkersOtherJobsRunMeanwhile()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var ids = await SubmitAsync(harness, Tenant, 2);
        var doomed = await harness.StartWorkerAsync(WorkerSettings("00:01:00", "00:00:03"), "doomed");
        await AsyncWait.WaitUntilAsync(
            async () => (await StatusesAsync(harness, ids)).All(s => s == JobStatus.Processing),
            TimeSpan.FromSeconds(30), "the first worker runs both jobs");
        await doomed.KillAsync();

        // The permits a Redis rolled back to an older state brings back: attempts no live worker runs,
        // taken until their lease lapses (a 15 s lease, renewed just before the snapshot), the set's
        // expiry two leases on, as renew.lua leaves them.
        var restoredUntil = await RedisNowMsAsync(harness) + 15_000;
        await harness.Db.SortedSetAddAsync(PermitsKey(harness), [new("restored-1", restoredUntil), new("restored-2", restoredUntil)]).Bounded();
        await harness.Db.KeyExpireAsync(PermitsKey(harness), TimeSpan.FromSeconds(30)).Bounded();

        // The survivor takes the dead worker's jobs over as suspects, held for the tenant's permits.
        var survivor = await harness.StartWorkerAsync(WorkerSettings("00:00:00.100", "00:00:03"), "survivor");
        await AsyncWait.WaitUntilAsync(
            async () => (await Task.WhenAll(ids.Select(id => harness.Db.HashExistsAsync(harness.Keys.Job(id), "suspect")))).All(s => s),
            TimeSpan.FromSeconds(30), "the survivor took both jobs over as suspects");

        // Another tenant's jobs run meanwhile: the suspects wait in their ready set, not in the worker.
        var submitted = Stopwatch.StartNew();
        var others = await SubmitAsync(harness, Other, 4);
        Assert.All(await harness.WaitUntilAllFinalAsync(others, TimeSpan.FromSeconds(10)), j => Assert.Equal(JobStatus.Completed, j.Status));
        TestContext.Current.TestOutputHelper?.WriteLine($"the other tenant's 4 jobs completed {submitted.ElapsedMilliseconds} ms after submission");
        Assert.True(await RedisNowMsAsync(harness) < restoredUntil, "the restored permits lapsed before the other tenant's jobs completed: the test proves nothing");
        Assert.All(await harness.GetAllAsync(ids), j => Assert.NotEqual(JobStatus.Completed, j.Status));
        await AsyncWait.WaitUntilAsync(
            () => Task.FromResult(survivor.Output.Contains("back to its tenant's ready set", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(5), "the survivor logged the suspects it put back");

        // Once the restored permits lapse, the suspects are dispatched with permits and complete, their
        // lost attempt recorded and not charged.
        var jobs = await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(60));
        Assert.All(jobs, j =>
        {
            Assert.Equal(JobStatus.Completed, j.Status);
            Assert.Equal([AttemptOutcome.WorkerLost, AttemptOutcome.Succeeded], j.History.Select(a => a.Outcome));
        });
    }

    private static Task<IReadOnlyList<string>> SubmitAsync(WorkerHarness harness, string tenant, int count) =>
        harness.SubmitForTenantAsync(tenant, count);

    private static async Task<string?[]> StatusesAsync(WorkerHarness harness, IReadOnlyList<string> ids)
    {
        var batch = harness.Db.CreateBatch();
        var reads = ids.Select(id => batch.HashGetAsync(harness.Keys.Job(id), "status")).ToArray();
        batch.Execute();
        return [.. (await Task.WhenAll(reads).Bounded()).Select(v => (string?)v)];
    }

    /// <summary>Jobs held in a worker (a lease) waiting for a retry due more than <paramref name="pastDue"/> ago, on Redis's clock.</summary>
    private static async Task<int> RetriesHeldInAWorkerAsync(WorkerHarness harness, IReadOnlyList<string> ids, TimeSpan pastDue)
    {
        var now = await RedisNowMsAsync(harness);
        var batch = harness.Db.CreateBatch();
        var reads = ids.Select(id => batch.HashGetAsync(harness.Keys.Job(id), ["status", "lease", "nextAttemptAt"])).ToArray();
        batch.Execute();
        return (await Task.WhenAll(reads).Bounded()).Count(f => f[0] == JobStatus.Retrying && f[1].HasValue
            && (long)f[2] < now - (long)pastDue.TotalMilliseconds);
    }

    private static RedisKey PermitsKey(WorkerHarness harness) => $"{harness.Keys.Prefix}:tenant:{Tenant}:permits";

    /// <summary>Permits whose lease has not lapsed, on Redis's clock.</summary>
    private static async Task<long> LivePermitsAsync(WorkerHarness harness) =>
        await harness.Db.SortedSetLengthAsync(PermitsKey(harness), await RedisNowMsAsync(harness), double.PositiveInfinity, Exclude.Start).Bounded();

    /// <summary>Redis's clock (TIME), in Unix ms: the clock permits are scored by.</summary>
    private static async Task<long> RedisNowMsAsync(WorkerHarness harness)
    {
        var time = (RedisResult[])(await harness.Db.ExecuteAsync("TIME").Bounded())!;
        return (long.Parse((string)time[0]!, System.Globalization.CultureInfo.InvariantCulture) * 1000)
            + (long.Parse((string)time[1]!, System.Globalization.CultureInfo.InvariantCulture) / 1000);
    }
}

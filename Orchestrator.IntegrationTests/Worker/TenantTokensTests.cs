using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// Issue 16's <c>Tenants:{t}:TokensPerMinute</c> through a real worker process: the tokens each
/// answered call used (as the provider reported them) are charged to the tenant in Redis, and once
/// a minute's worth is spent the tenant's next jobs wait in its ready set — not started, holding no
/// worker slot — while another tenant's jobs run; then they go on at the limit's pace.
/// </summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class TenantTokensTests
{
    private const string Limited = "tenant-a";
    private const string Other = "tenant-b";
    private const int TokensPerMinute = 600;

    [Fact]
    public async Task MinuteOfTokensSpent_TenantHeldInItsQueue_OthersRun_ThenItGoesOnAtTheLimitsPace()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            [$"Tenants:{Limited}:TokensPerMinute"] = TokensPerMinute.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.050",
            ["Worker:Concurrency"] = "4",
        }, "worker");

        var limited = await SubmitAsync(harness, Limited, 40);
        // The burst (a minute's tokens) is spent, then nothing more starts: the rest wait, queued.
        await AsyncWait.WaitUntilAsync(async () => await HeldAsync(harness, limited), TimeSpan.FromSeconds(30),
            "the tenant's jobs stop starting once a minute's tokens are spent");
        var jobs = await harness.GetAllAsync(limited);
        var done = jobs.Where(j => j.Status == JobStatus.Completed).ToList();
        var spent = done.Sum(j => j.Result!.Usage.PromptTokens + j.Result.Usage.CompletionTokens);
        var largest = done.Max(j => j.Result!.Usage.PromptTokens + j.Result.Usage.CompletionTokens);
        TestContext.Current.TestOutputHelper?.WriteLine($"{done.Count} jobs, {spent} tokens before the hold (limit {TokensPerMinute}/min; largest call {largest})");
        Assert.NotEmpty(done);
        Assert.True(done.Count < limited.Count, "the limit held nothing back");
        // At most the minute's tokens plus what the calls running when it was reached used.
        Assert.InRange(spent, TokensPerMinute - (4 * largest), TokensPerMinute + (4 * largest));
        Assert.All(jobs.Where(j => j.Status != JobStatus.Completed), j =>
        {
            Assert.Equal(JobStatus.Queued, j.Status);
            Assert.Equal(0, j.Attempts);
        });

        // Held, the tenant holds no worker slot: another tenant's jobs run at once.
        var others = await SubmitAsync(harness, Other, 8);
        Assert.All(await harness.WaitUntilAllFinalAsync(others, TimeSpan.FromSeconds(15)), j => Assert.Equal(JobStatus.Completed, j.Status));

        // And the held tenant goes on as its tokens come back (one call's worth every few seconds).
        await AsyncWait.WaitUntilAsync(
            async () => (await harness.GetAllAsync(limited)).Count(j => j.Status == JobStatus.Completed) > done.Count,
            TimeSpan.FromSeconds(30), "the tenant's next job runs once its tokens come back");
    }

    /// <summary>
    /// A tenant held by its <c>TokensPerMinute</c> runs as soon as a worker restarted without that
    /// limit is up: a starting worker looks at parked tenants again. They waited out the old limit's
    /// hold before (12 minutes in an outside audit; here a call's ~30 tokens at 10 a minute, 3).
    /// </summary>
    [Fact]
    public async Task HeldTenant_ItsLimitRemovedAtARestart_RunsOnceTheWorkerIsUp()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var settings = new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.050",
            ["Worker:Concurrency"] = "1",
        };
        var limited = await harness.StartWorkerAsync(new Dictionary<string, string>(settings) { [$"Tenants:{Limited}:TokensPerMinute"] = "10" }, "worker-limited");
        var ids = await SubmitAsync(harness, Limited, 4);
        await AsyncWait.WaitUntilAsync(async () => await HeldAsync(harness, ids), TimeSpan.FromSeconds(30), "the tenant held after its first calls");
        await limited.KillAsync();

        await harness.StartWorkerAsync(settings, "worker-without-the-limit");

        Assert.All(await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(20)), j => Assert.Equal(JobStatus.Completed, j.Status));
    }

    private static Task<IReadOnlyList<string>> SubmitAsync(WorkerHarness harness, string tenant, int count) =>
        harness.SubmitForTenantAsync(tenant, count, r => r with { MaxTokens = 20 });

    /// <summary>True once some jobs completed, none is processing and some still wait, twice 300 ms apart with no change.</summary>
    private static async Task<bool> HeldAsync(WorkerHarness harness, IReadOnlyList<string> ids)
    {
        var before = await harness.GetAllAsync(ids);
        await Task.Delay(TimeSpan.FromMilliseconds(300), TestContext.Current.CancellationToken);
        var after = await harness.GetAllAsync(ids);
        return after.Any(j => j.Status == JobStatus.Completed)
            && after.All(j => j.Status != JobStatus.Processing)
            && after.Any(j => j.Status == JobStatus.Queued)
            && before.Count(j => j.Status == JobStatus.Completed) == after.Count(j => j.Status == JobStatus.Completed);
    }
}

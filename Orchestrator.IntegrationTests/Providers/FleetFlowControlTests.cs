using System.Diagnostics;
using System.Globalization;
using Orchestrator.Jobs;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// Three worker processes share one deployment's limits through Redis, against the simulator
/// service enforcing the same limits over HTTP. Scaled for CI by default (60,000 TPM / 600 RPM,
/// 150 jobs); <c>ORCHESTRATOR_PROVIDER_LOAD=full</c> runs the figures (20,000 TPM / 200 RPM,
/// 300 jobs, some two and a half minutes a test); <c>ORCHESTRATOR_PROVIDER_LOAD=s6</c> runs benchmark
/// scenario S6 (60,000 TPM / 600 RPM, 2,000 jobs, some seven minutes a test) and the worker's memory
/// with 1,000 streaming calls in flight (docs/performance.md).
/// </summary>
[Collection(ProviderProcessCollection.Name)]
public sealed class FleetFlowControlTests
{
    /// <summary>The variable that asks for a measuring run (<c>full</c> or <c>s6</c>).</summary>
    internal const string LoadVariable = "ORCHESTRATOR_PROVIDER_LOAD";

    private static readonly string? Load = Environment.GetEnvironmentVariable(LoadVariable);
    private static readonly bool Full = Load == "full";
    private static readonly bool S6 = Load == "s6";
    private static readonly int TokensPerMinute = Full ? 20_000 : 60_000;
    private static readonly int RequestsPerMinute = Full ? 200 : 600;
    private static readonly int JobCount = Full ? 300 : S6 ? 2_000 : 150;

    [Fact]
    public async Task LimitsKnown_ThreeWorkers_AllComplete_AtMostOnePercent429_ThroughputAtLeast85PercentOfLimit()
    {
        var (jobs, stats, tokensPerMinute) = await RunLoadAsync(providerKnowsLimits: true);

        Assert.All(jobs, j => Assert.Equal(JobStatus.Completed, j.Status));
        Assert.True(stats.RateLimited <= stats.Calls / 100.0, $"{stats.RateLimited} of {stats.Calls} calls answered 429");
        Assert.True(tokensPerMinute >= 0.85 * TokensPerMinute, $"{tokensPerMinute:N0} tokens/min served against a limit of {TokensPerMinute:N0}");
    }

    [Fact]
    public async Task LimitsUnknown_ThreeWorkers_NoDeadLetter_NoAttemptSpentOn429_NoCallInsideRetryAfter()
    {
        var (jobs, stats, _) = await RunLoadAsync(providerKnowsLimits: false);

        Assert.All(jobs, j => Assert.Equal(JobStatus.Completed, j.Status));
        // The simulator fails nothing but 429s here: any second attempt would be one spent on a 429.
        Assert.All(jobs, j => Assert.True(j.Attempts == 1,
            string.Join("; ", j.History.Select(a => $"{a.Attempt} {a.Outcome} {a.Error?.Type} {a.Error?.Message}"))));
        Assert.True(stats.RateLimited > 0, "the load never met the simulator's limits; the test proves nothing");
        // Calls already on their way when a 429 went out may land inside its window; none sent after the
        // fleet could have heard of it (Simulator:AnnouncementGrace) may.
        Assert.Equal(0, stats.CallsInsideRetryAfterPastGrace);
    }

    [Fact]
    public async Task S6_ThousandStreamingCallsInFlight_OneWorker_ReportsItsResidentMemory()
    {
        if (!S6)
        {
            Assert.Skip("Benchmark scenario S6: set ORCHESTRATOR_PROVIDER_LOAD=s6.");
        }

        const int InFlight = 1_000;
        await using var harness = await WorkerHarness.StartAsync();
        // Each call answers after 20 s and then streams its 100 tokens over 20 s: all are open at once.
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:20",
            ["Simulator:TokensPerSecond"] = "5",
        });
        var worker = await harness.StartWorkerAsync(ProviderSetup.Worker(simulator, more: new()
        {
            ["Worker:Concurrency"] = InFlight.ToString(CultureInfo.InvariantCulture),
            ["Retry:AttemptTimeout"] = "00:05:00",
        }), "worker");
        var idle = ResidentBytes(worker.Id);

        await Task.WhenAll(Enumerable.Range(0, InFlight).Select(i => ProviderSetup.SubmitAsync(harness,
            new JobRequest($"Question {i}: explain leases in a paragraph.", "sim-model", MaxTokens: 100))));
        await AsyncWait.WaitUntilAsync(async () => (await simulator.StatsAsync()).Calls >= InFlight,
            TimeSpan.FromMinutes(2), "every call is on the wire", TimeSpan.FromMilliseconds(250));
        var busy = ResidentBytes(worker.Id);
        var stats = await simulator.StatsAsync();

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"worker RSS idle {idle / 1_048_576.0:N1} MiB, with {InFlight:N0} streaming calls in flight {busy / 1_048_576.0:N1} MiB " +
            $"(+{(busy - idle) / 1_048_576.0:N1} MiB, {(busy - idle) / (double)InFlight / 1024:N1} KiB a call); simulator calls {stats.Calls}, completed {stats.Completed}");
        Assert.Equal(0, stats.Completed);
        Assert.True(busy > idle, "the calls in flight take some memory");
    }

    private static long ResidentBytes(int pid)
    {
        // VmRSS from /proc (Linux): the worker's resident set, in kB.
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private static async Task<(IReadOnlyList<Job> Jobs, SimulatorStatsSnapshot Stats, double TokensPerMinute)> RunLoadAsync(bool providerKnowsLimits)
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.050",
            ["Simulator:TokensPerMinute"] = TokensPerMinute.ToString(CultureInfo.InvariantCulture),
            ["Simulator:RequestsPerMinute"] = RequestsPerMinute.ToString(CultureInfo.InvariantCulture),
            // On two busy shared cores a call can sit a good while between its reservation and the wire.
            ["Simulator:AnnouncementGrace"] = "00:00:00.250",
        });
        var settings = ProviderSetup.Worker(simulator,
            requestsPerMinute: providerKnowsLimits ? RequestsPerMinute : null,
            tokensPerMinute: providerKnowsLimits ? TokensPerMinute : null,
            more: new() { ["Worker:Concurrency"] = "16", ["Llm:MaxRateLimitWait"] = "00:10:00" });
        for (var i = 1; i <= 3; i++)
        {
            await harness.StartWorkerAsync(settings, $"worker-{i}");
        }

        // Some 100 prompt tokens each: a numbered question padded with a sentence of fixed length.
        var padding = string.Join(' ', Enumerable.Repeat("Consider leases, retries and rate limits in a distributed queue.", 7));
        var before = await simulator.StatsAsync();
        var stopwatch = Stopwatch.StartNew();
        var ids = await Task.WhenAll(Enumerable.Range(0, JobCount).Select(i => ProviderSetup.SubmitAsync(harness,
            new JobRequest($"Question {i}: {padding}", "sim-model", MaxTokens: 100))));
        var jobs = await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromMinutes(Full ? 6 : S6 ? 15 : 3));
        var elapsed = stopwatch.Elapsed;
        var stats = await simulator.StatsAsync();
        var tokensPerMinute = (stats.Tokens - before.Tokens) / elapsed.TotalMinutes;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{JobCount} jobs in {elapsed.TotalSeconds:0.0} s: {tokensPerMinute:N0} tokens/min of {TokensPerMinute:N0} ({tokensPerMinute / TokensPerMinute:P0}); " +
            $"calls {stats.Calls}, 429s {stats.RateLimited}, inside Retry-After {stats.CallsInsideRetryAfter} ({stats.CallsInsideRetryAfterPastGrace} past the grace); " +
            $"prompt tokens ~{jobs[0].Result?.Usage.PromptTokens}, completion ~{jobs[0].Result?.Usage.CompletionTokens}");
        return (jobs, stats, tokensPerMinute);
    }
}

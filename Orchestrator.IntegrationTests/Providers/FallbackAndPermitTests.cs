using System.Diagnostics;
using Orchestrator.Jobs;
using Orchestrator.Worker.Llm.FlowControl;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// A deployment that goes away opens its circuit and jobs complete on their fallback model; once it is
/// back they use it again; a prompt too long for the fallback never reaches it. Concurrency permits of
/// a worker killed with SIGKILL come back within one lease.
/// </summary>
[Collection(ProviderProcessCollection.Name)]
public sealed class FallbackAndPermitTests
{
    [Fact]
    public async Task PrimaryDown_CircuitOpens_JobsCompleteOnFallback_PrimaryBack_UsedAgain_LongPromptNeverCallsSmallModel()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var fast = new Dictionary<string, string> { ["Simulator:FailureRate"] = "0", ["Simulator:Latency"] = "00:00:00.010" };
        var primary = await LlmSimulatorProcess.StartAsync(fast);
        // The small model's server refuses any prompt over 300 tokens: a call with the long prompt would show as a failure.
        await using var backup = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>(fast) { ["Simulator:ContextWindow"] = "300" });
        try
        {
            var settings = ProviderSetup.Worker(primary, provider: "primary", models: [("big", 100_000)], more: new()
            {
                ["Llm:CircuitMinimumThroughput"] = "2",
                ["Llm:CircuitSamplingDuration"] = "00:00:05",
                ["Llm:CircuitBreakDuration"] = "00:00:02",
                ["Retry:MaxAttempts"] = "4",
            });
            ProviderSetup.AddProvider(settings, "backup", backup, [("small", 300)]);
            await harness.StartWorkerAsync(settings, "worker");

            await primary.KillAsync();
            var longPrompt = string.Join(' ', Enumerable.Repeat("A long document about leases, retries and limits.", 60));
            var duringOutage = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => ProviderSetup.SubmitAsync(harness,
                new JobRequest($"Outage question {i}.", "big", MaxTokens: 50, FallbackModels: ["small"]), maxAttempts: 4)));
            var tooLong = await ProviderSetup.SubmitAsync(harness, new JobRequest(longPrompt, "big", MaxTokens: 50, FallbackModels: ["small"]), maxAttempts: 4);

            var fellBack = await harness.WaitUntilAllFinalAsync(duringOutage, TimeSpan.FromSeconds(60));
            Assert.All(fellBack, j =>
            {
                Assert.True(j.Status == JobStatus.Completed, string.Join("; ", j.History.Select(a => $"{a.Attempt} {a.Model} {a.Outcome} {a.Error?.Type} {a.Error?.Message}")));
                Assert.Equal("small", j.History[^1].Model);
            });
            Assert.True(JobStatus.IsTerminal((await harness.GetAsync(tooLong)).Status) is false, "the long prompt must wait for the big model");

            // The primary returns on the same port; after the circuit's break a probe finds it.
            await using var restarted = await LlmSimulatorProcess.StartAsync(fast, primary.Port);
            var late = Assert.Single(await harness.WaitUntilAllFinalAsync([tooLong], TimeSpan.FromSeconds(60)));
            Assert.Equal(JobStatus.Completed, late.Status);
            Assert.Equal("big", late.History[^1].Model);

            var afterRecovery = new List<Job>();
            await AsyncWait.WaitUntilAsync(async () =>
            {
                var id = await ProviderSetup.SubmitAsync(harness, new JobRequest("After recovery.", "big", MaxTokens: 50, FallbackModels: ["small"]));
                afterRecovery.Add(Assert.Single(await harness.WaitUntilAllFinalAsync([id], TimeSpan.FromSeconds(30))));
                return afterRecovery[^1].History[^1].Model == "big";
            }, TimeSpan.FromSeconds(30), "a job submitted after the primary's return completes on the big model");

            var backupStats = await backup.StatsAsync();
            Assert.Equal(0, backupStats.Failed);
            Assert.True(backupStats.Completed >= 10, $"the backup served {backupStats.Completed} calls");
        }
        finally
        {
            await primary.DisposeAsync();
        }
    }

    [Fact]
    public async Task WorkerKilledHoldingPermits_PermitsReturnWithinOneLease()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            // Calls outlive the test's lease several times over: only renewals keep their permits.
            ["Simulator:Latency"] = "00:01:00",
        });
        var lease = TimeSpan.FromSeconds(3);
        var worker = await harness.StartWorkerAsync(ProviderSetup.Worker(simulator, maxConcurrency: 3, more: new()
        {
            ["Worker:LeaseTimeout"] = "00:00:03",
            ["Retry:AttemptTimeout"] = "00:05:00",
        }), "worker");
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);

        await Task.WhenAll(Enumerable.Range(0, 5).Select(i => ProviderSetup.SubmitAsync(harness, new JobRequest($"Slow question {i}.", "sim-model"))));
        await AsyncWait.WaitUntilAsync(async () => await flow.PermitsHeldAsync("sim") == 3, TimeSpan.FromSeconds(30), "the worker holds all three permits");
        // Held past two leases: renewed, not leaked and not lost.
        await Task.Delay(lease * 2, TestContext.Current.CancellationToken);
        Assert.Equal(3, await flow.PermitsHeldAsync("sim"));

        await worker.KillAsync();
        var killed = Stopwatch.StartNew();
        await AsyncWait.WaitUntilAsync(async () => await flow.PermitsHeldAsync("sim") == 0, TimeSpan.FromSeconds(30), "the killed worker's permits lapse");

        // A third of a lease at most since the last renewal, plus the polling: within one lease.
        Assert.True(killed.Elapsed <= lease + TimeSpan.FromSeconds(1), $"permits came back after {killed.Elapsed.TotalSeconds:0.0} s (lease {lease.TotalSeconds} s)");
    }
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Testing;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// The probe of an open circuit, with the worker's own <see cref="LlmCaller"/> against a deployment
/// that refuses every connection: while open, calls wait for the rest of the break without going
/// out; the probe that fails makes its job wait two breaks, so that another waiting job probes next
/// (a job whose calls always fail must not hold the circuit open by probing again and again).
/// </summary>
public sealed class CircuitProbeTests
{
    private const string JobId = "job-probe";

    private static readonly TimeSpan Break = TimeSpan.FromMilliseconds(500);

    [Fact]
    public async Task DeploymentDown_CircuitOpens_WaitsTheBreak_FailedProbeWaitsTwoBreaks()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var provider = new ProviderOptions
        {
            Kind = ProviderKinds.OpenAI,
            Endpoint = InProcessLlmCaller.Unreachable,
            Models = [new ModelOptions { Name = "m" }],
        };
        await using var services = InProcessLlmCaller.Build(harness, provider, llm: o =>
        {
            o.CircuitMinimumThroughput = 2;
            o.CircuitBreakDuration = Break;
        });
        var caller = services.GetRequiredService<LlmCaller>();
        var circuits = services.GetRequiredService<DeploymentCircuits>();
        var request = new JobRequest("Is the deployment up?", "m");

        // Two refused calls: every call of at least two failed, the circuit opens.
        for (var i = 0; i < 2; i++)
        {
            var failure = await Assert.ThrowsAsync<LlmException>(() => Call(caller, request));
            Assert.Equal(LlmErrorKind.Transient, failure.Kind);
        }

        Assert.True(circuits.OpenFor(InProcessLlmCaller.Provider) > TimeSpan.Zero, "two failures of two calls open the circuit");
        var open = await Assert.ThrowsAsync<CapacityWaitException>(() => Call(caller, request));
        Assert.Equal("circuit-open", open.Reason);
        Assert.InRange(open.Wait, TimeSpan.FromTicks(1), Break);

        await AsyncWait.WaitUntilAsync(() => circuits.OpenFor(InProcessLlmCaller.Provider) == TimeSpan.Zero, TimeSpan.FromSeconds(10), "the break is over");
        var probe = await Assert.ThrowsAsync<CapacityWaitException>(() => Call(caller, request));
        Assert.Equal("circuit-open", probe.Reason);
        Assert.Equal(2 * Break, probe.Wait);

        // The lines about the job's call (the open circuit skipped, the failed probe) name the job and its attempt.
        var lines = services.GetFakeLogCollector().GetSnapshot().Where(r => r.Category == typeof(LlmCaller).FullName).ToList();
        Assert.Contains(lines, r => r.Id.Id == 201);
        Assert.Contains(lines, r => r.Id.Id == 203);
        Assert.All(lines.Where(r => r.Id.Id is 201 or 203), r =>
        {
            Assert.Equal(JobId, r.GetStructuredStateValue("JobId"));
            Assert.Equal("1", r.GetStructuredStateValue("Attempt"));
        });
    }

    private static Task<LlmAnswer> Call(LlmCaller caller, JobRequest request) =>
        caller.CallAsync(JobId, request, 1, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
}

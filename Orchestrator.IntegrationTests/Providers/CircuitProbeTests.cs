using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Testing;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;
using Polly;
using Polly.Timeout;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// The probe of an open circuit, with the worker's own <see cref="LlmCaller"/> against a deployment
/// that refuses every connection: while open, calls wait for the rest of the break without going
/// out; the probe that fails makes its job wait two breaks, so that another waiting job probes next
/// (a job whose calls always fail must not hold the circuit open by probing again and again), unless
/// the job has a fallback left: it goes there. A call cut by its attempt's timeout (a hung provider)
/// is a failure of the deployment; one cut by its job is not.
/// </summary>
public sealed class CircuitProbeTests
{
    private const string JobId = "job-probe";

    // Long enough that a loaded machine asserts "open" before the break is over (at 500 ms a CI run
    // beside other work found it closed again between the second failure and the check).
    private static readonly TimeSpan Break = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task DeploymentDown_CircuitOpens_WaitsTheBreak_FailedProbeWaitsTwoBreaks()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var services = BuildCaller(harness, InProcessLlmCaller.Unreachable);
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
        // What the deployment answered goes with the wait: a job failing on it says so, not only "rate-limited".
        Assert.StartsWith("The provider did not answer", open.Cause, StringComparison.Ordinal);

        await AsyncWait.WaitUntilAsync(() => circuits.OpenFor(InProcessLlmCaller.Provider) == TimeSpan.Zero, TimeSpan.FromSeconds(10), "the break is over");
        var probe = await Assert.ThrowsAsync<CapacityWaitException>(() => Call(caller, request));
        Assert.Equal("circuit-open", probe.Reason);
        Assert.Equal(2 * Break, probe.Wait);
        Assert.StartsWith("The provider did not answer", probe.Cause, StringComparison.Ordinal);

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

    [Fact]
    public async Task FailedProbe_JobWithAFallback_AnsweredByTheFallback()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fallback = await FakeProvider.StartAsync(_ => FakeAnswer.Answer("From the fallback."));
        await using var services = BuildCaller(harness, InProcessLlmCaller.Unreachable, (fallback.Endpoint, "f"));
        var caller = services.GetRequiredService<LlmCaller>();
        var circuits = services.GetRequiredService<DeploymentCircuits>();
        for (var i = 0; i < 2; i++)
        {
            await Assert.ThrowsAsync<LlmException>(() => Call(caller, new JobRequest("Is the deployment up?", "m")));
        }

        await AsyncWait.WaitUntilAsync(() => circuits.OpenFor(InProcessLlmCaller.Provider) == TimeSpan.Zero, TimeSpan.FromSeconds(10), "the break is over");
        Assert.True(circuits.IsProbing(InProcessLlmCaller.Provider), "the next call to m is the probe");

        // This job probes m (still down), then goes on to its fallback in the same call.
        var answer = await Call(caller, new JobRequest("Is the deployment up?", "m", FallbackModels: ["f"]));

        Assert.Equal(("f", "From the fallback."), (answer.Model.Name, answer.Text));
        Assert.Single(fallback.Requests);
        Assert.True(circuits.OpenFor(InProcessLlmCaller.Provider) > TimeSpan.Zero, "the failed probe opened m's circuit again");
    }

    [Fact]
    public async Task HungDeployment_AttemptTimeoutsOpenTheCircuit_ATimedOutProbeOpensItAgain_JobCancellationsDoNotCount()
    {
        await using var harness = await WorkerHarness.StartAsync();
        // Connections are taken (the listen backlog) and never answered: every call hangs.
        using var hung = new TcpListener(IPAddress.Loopback, 0);
        hung.Start();
        var endpoint = new Uri($"http://127.0.0.1:{((IPEndPoint)hung.LocalEndpoint).Port}/v1");
        await using var services = BuildCaller(harness, endpoint, (endpoint, "n"));
        var caller = services.GetRequiredService<LlmCaller>();
        var circuits = services.GetRequiredService<DeploymentCircuits>();

        // Cancelled by their jobs (canceled, a shutdown, a lease lost), not by a timeout: no failure of q's.
        for (var i = 0; i < 2; i++)
        {
            using var job = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            job.CancelAfter(TimeSpan.FromMilliseconds(200));
            var outcome = await CallWithTimeout(caller, new JobRequest("Are you there?", "n"), TimeSpan.FromSeconds(30), job.Token);
            Assert.IsAssignableFrom<OperationCanceledException>(outcome.Exception);
        }

        Assert.Equal(TimeSpan.Zero, circuits.OpenFor("q"));
        Assert.False(circuits.IsProbing("q"), "job cancellations left q's circuit closed");

        // Two attempt timeouts: two failures of two calls, p's circuit opens.
        for (var i = 0; i < 2; i++)
        {
            var outcome = await CallWithTimeout(caller, new JobRequest("Are you there?", "m"), TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken);
            Assert.IsType<TimeoutRejectedException>(outcome.Exception);
        }

        Assert.True(circuits.OpenFor(InProcessLlmCaller.Provider) > TimeSpan.Zero, "two timeouts of two calls open the circuit");

        // The probe times out too: a failed probe, the circuit opens again and the job waits unspent.
        await AsyncWait.WaitUntilAsync(() => circuits.OpenFor(InProcessLlmCaller.Provider) == TimeSpan.Zero, TimeSpan.FromSeconds(10), "the break is over");
        var probe = await CallWithTimeout(caller, new JobRequest("Are you there?", "m"), TimeSpan.FromMilliseconds(200), TestContext.Current.CancellationToken);
        Assert.Equal("circuit-open", Assert.IsType<CapacityWaitException>(probe.Exception).Reason);
        Assert.True(circuits.OpenFor(InProcessLlmCaller.Provider) > TimeSpan.Zero, "the timed-out probe opened the circuit again");
    }

    /// <summary>One call inside an attempt timeout as the worker's pipeline applies it (LlmPipeline), for a job whose token is <paramref name="job"/>.</summary>
    /// <summary>
    /// A caller of model <c>m</c> at <paramref name="endpoint"/> (and of <paramref name="other"/>'s model
    /// under a second provider, <c>q</c>), whose circuits open after two failures of two calls, for <see cref="Break"/>.
    /// </summary>
    private static ServiceProvider BuildCaller(WorkerHarness harness, Uri endpoint, (Uri Endpoint, string Model)? other = null) =>
        InProcessLlmCaller.Build(harness, Provider(endpoint, "m"), llm: o =>
        {
            o.CircuitMinimumThroughput = 2;
            o.CircuitBreakDuration = Break;
            if (other is { } q)
            {
                o.Providers["q"] = Provider(q.Endpoint, q.Model);
            }
        });

    private static ProviderOptions Provider(Uri endpoint, string model) =>
        new() { Kind = ProviderKinds.OpenAI, Endpoint = endpoint, Models = [new ModelOptions { Name = model }] };

    private static async Task<Outcome<LlmAnswer>> CallWithTimeout(LlmCaller caller, JobRequest request, TimeSpan timeout, CancellationToken job)
    {
        var pipeline = new ResiliencePipelineBuilder().AddTimeout(timeout).Build();
        var context = ResilienceContextPool.Shared.Get(job);
        try
        {
            return await pipeline.ExecuteOutcomeAsync(
                static async (ctx, s) => await s.Caller.CallOutcomeAsync(JobId, s.Request, 1, ctx.CancellationToken, jobCancellation: s.Job),
                context, (Caller: caller, Request: request, Job: job)).AsTask().WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private static Task<LlmAnswer> Call(LlmCaller caller, JobRequest request) =>
        caller.CallAsync(JobId, request, 1, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
}

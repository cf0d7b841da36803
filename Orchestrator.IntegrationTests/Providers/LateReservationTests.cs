using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;
using Orchestrator.Worker.Llm.FlowControl;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// A 429 another worker meets after this call's reservation (issue 15 1b), on a real Redis with the
/// worker's own <see cref="LlmCaller"/>: the cooldown is written right after <c>reserve.lua</c>
/// answered. When that answer reached the caller late (a busy machine; here a clock on which each
/// reading is 100 ms after the last), the caller asks for the cooldown again and the call waits
/// without going out; its permit is given back. The provider's endpoint accepts no connection, so
/// a call that went out ends as a transient failure instead.
/// </summary>
public sealed class LateReservationTests
{
    private const string Provider = InProcessLlmCaller.Provider;

    [Theory]
    [InlineData(true, true, "waits")]
    [InlineData(true, false, "goes out")]
    // An answer on time is not asked again (the common case costs nothing): a 429 written in the
    // moment between is the in-flight race no client can close.
    [InlineData(false, true, "goes out")]
    public async Task CooldownWrittenAfterTheReservation_CallWaitsOnlyWhenTheAnswerCameLate(bool answerLate, bool cooldownAfterReserve, string expected)
    {
        await using var harness = await WorkerHarness.StartAsync();
        var options = new ProviderOptions
        {
            Kind = ProviderKinds.OpenAI,
            Endpoint = InProcessLlmCaller.Unreachable,
            MaxConcurrency = 1,
            Models = [new ModelOptions { Name = "m" }],
        };
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);
        // Another worker's 429 lands right after the reservation.
        // On time: a clock that does not move, so the answer is on time however busy the machine is.
        await using var services = InProcessLlmCaller.Build(harness, options, answerLate ? new LateAnswers() : new FakeTimeProvider(DateTimeOffset.UtcNow),
            afterReserve: cooldownAfterReserve ? () => flow.ExtendCooldownAsync(Provider, options, TimeSpan.FromSeconds(10), null) : null);
        var caller = services.GetRequiredService<LlmCaller>();

        var call = caller.CallAsync("job-late", new JobRequest("Is the deployment cooling down?", "m"), 2, TestContext.Current.CancellationToken);
        var thrown = await Record.ExceptionAsync(() => call.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));

        if (expected == "waits")
        {
            var wait = Assert.IsType<CapacityWaitException>(thrown);
            Assert.Equal("rate-limited", wait.Reason);
            Assert.InRange(wait.Wait, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(10));
            // Its line names the job and the attempt that waits.
            var line = Assert.Single(services.GetFakeLogCollector().GetSnapshot(), r => r.Id.Id == 204);
            Assert.Equal("job-late", line.GetStructuredStateValue("JobId"));
            Assert.Equal("2", line.GetStructuredStateValue("Attempt"));
        }
        else
        {
            var failure = Assert.IsType<LlmException>(thrown);
            Assert.Equal(LlmErrorKind.Transient, failure.Kind);
        }

        // Settled either way: the permit is back.
        Assert.Equal(0, await flow.PermitsHeldAsync(Provider).Bounded());
    }
}

/// <summary>A clock on which every reading is 100 ms after the last: every answer of Redis arrives late.</summary>
file sealed class LateAnswers : TimeProvider
{
    private long _offset;

    public override long GetTimestamp() => base.GetTimestamp() + Interlocked.Add(ref _offset, TimestampFrequency / 10);
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Testing;
using Orchestrator.Worker.Llm;
using Orchestrator.Worker.Llm.FlowControl;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// A deployment without limits, on a real Redis with the worker's own <see cref="LlmCaller"/>: a
/// call within <see cref="ClearReadings.ReuseFor"/> of a reading that found it clear goes on
/// that reading without a <c>reserve.lua</c> call; once the reading is older, the next call asks
/// again and meets another worker's cooldown; a call past <see cref="ClearReadings.RenewAfter"/> has
/// the reading renewed beside it. A limit, configured or learned from a 429, is
/// reserved on every call. The provider's endpoint accepts no connection, so a call that went out
/// ends as a transient failure.
/// </summary>
public sealed class ClearReadingTests
{
    private const string Provider = InProcessLlmCaller.Provider;

    [Fact]
    public async Task WithoutLimits_CallsWithinReuseFor_ReuseTheReading_ThenTheNextOneSeesTheCooldown()
    {
        await using var deployment = await UnlimitedDeployment.StartAsync();
        var (harness, options, flow, clock, caller) = deployment;

        // The first call reads the deployment's state; the second, on the same instant, does not.
        Assert.Equal((1, "goes out"), await CallAsync(caller, harness));
        Assert.Equal((0, "goes out"), await CallAsync(caller, harness));

        // Another worker's 429 within the reading's freshness: the in-flight race no client closes
        // (as a reservation answered just before it), bounded by ReuseFor.
        await flow.ExtendCooldownAsync(Provider, options, TimeSpan.FromSeconds(10), null).Bounded();
        Assert.Equal((0, "goes out"), await CallAsync(caller, harness));

        clock.Advance(ClearReadings.ReuseFor);
        Assert.Equal((1, "waits"), await CallAsync(caller, harness));
        // Not clear: the next call asks again.
        Assert.Equal((1, "waits"), await CallAsync(caller, harness));
    }

    [Theory]
    [InlineData("cooldown", "waits")]
    [InlineData("learned", "goes out")]
    public async Task WithoutLimits_ACallPastRenewAfter_RenewsTheReadingOffItsPath_AndAnythingButClearEndsIt(string written, string next)
    {
        await using var deployment = await UnlimitedDeployment.StartAsync();
        var (harness, options, flow, clock, caller) = deployment;
        Assert.Equal((1, "goes out"), await CallAsync(caller, harness));

        // Past RenewAfter the call goes on the reading, and the reading is asked again beside it.
        clock.Advance(ClearReadings.RenewAfter);
        var renewedAt = clock.GetTimestamp();
        var before = await ScriptCalls.CountAsync(harness.Db);
        Assert.Equal("goes out", (await CallAsync(caller, harness)).Call);
        await AsyncWait.WaitUntilAsync(() => caller.Readings.Fresh(Provider) == renewedAt, TimeSpan.FromSeconds(10), "the renewed reading is taken");
        Assert.Equal(before + 1, await ScriptCalls.CountAsync(harness.Db));

        // Another worker's 429 (its cooldown, or the limits it announced). ReuseFor after the first
        // reading, which has lapsed, a call goes on the renewed one without seeing it (as for any
        // reading, bounded by ReuseFor); its own renewal finds it and ends the reading, and the
        // next call reserves: it waits for the cooldown, or goes out paced by the learnt limit.
        if (written == "cooldown")
        {
            await flow.ExtendCooldownAsync(Provider, options, TimeSpan.FromSeconds(10), null).Bounded();
        }
        else
        {
            await harness.Db.HashSetAsync(flow.Key(Provider, "learned"), "rpm", 60_000).Bounded();
        }

        clock.Advance(ClearReadings.ReuseFor - ClearReadings.RenewAfter);
        Assert.Equal("goes out", (await CallAsync(caller, harness)).Call);
        await AsyncWait.WaitUntilAsync(() => caller.Readings.Fresh(Provider) is null, TimeSpan.FromSeconds(10), "the renewal ends the reading");
        Assert.Equal((1, next), await CallAsync(caller, harness));
    }

    [Theory]
    [InlineData("configured")]
    [InlineData("learned")]
    public async Task WithALimit_EveryCallReserves(string limit)
    {
        await using var harness = await WorkerHarness.StartAsync();
        var options = Unlimited();
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);
        if (limit == "configured")
        {
            options.RequestsPerMinute = 60_000;
        }
        else
        {
            // As cooldown.lua remembers a limit a 429 announced.
            await harness.Db.HashSetAsync(flow.Key(Provider, "learned"), "rpm", 60_000).Bounded();
        }

        await using var services = InProcessLlmCaller.Build(harness, options, new FakeTimeProvider(DateTimeOffset.UtcNow));
        var caller = services.GetRequiredService<LlmCaller>();

        Assert.Equal((1, "goes out"), await CallAsync(caller, harness));
        Assert.Equal((1, "goes out"), await CallAsync(caller, harness));
    }

    /// <summary>A real Redis and the worker's <see cref="LlmCaller"/> on a fake clock, for one deployment without limits.</summary>
    private sealed class UnlimitedDeployment(WorkerHarness harness, ProviderOptions options, FakeTimeProvider clock, ServiceProvider services) : IAsyncDisposable
    {
        public static async Task<UnlimitedDeployment> StartAsync()
        {
            var harness = await WorkerHarness.StartAsync();
            var options = Unlimited();
            var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
            return new UnlimitedDeployment(harness, options, clock, InProcessLlmCaller.Build(harness, options, clock));
        }

        public void Deconstruct(out WorkerHarness redis, out ProviderOptions settings, out DeploymentFlowControl flow, out FakeTimeProvider time, out LlmCaller caller) =>
            (redis, settings, flow, time, caller) = (harness, options, new DeploymentFlowControl(harness.Connection, harness.Keys), clock, services.GetRequiredService<LlmCaller>());

        public async ValueTask DisposeAsync()
        {
            await services.DisposeAsync();
            await harness.DisposeAsync();
        }
    }

    private static ProviderOptions Unlimited() => new()
    {
        Kind = ProviderKinds.OpenAI,
        Endpoint = InProcessLlmCaller.Unreachable,
        Models = [new ModelOptions { Name = "m" }],
    };

    /// <summary>One call: the scripts it ran on Redis, and whether it went out or waited for the deployment.</summary>
    private static async Task<(long Scripts, string Call)> CallAsync(LlmCaller caller, WorkerHarness harness)
    {
        var before = await ScriptCalls.CountAsync(harness.Db);
        var thrown = await Record.ExceptionAsync(() => caller.CallAsync("job-clear", new JobRequest("Is the deployment clear?", "m"), 1, TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
        var scripts = await ScriptCalls.CountAsync(harness.Db) - before;
        return thrown switch
        {
            LlmException { Kind: LlmErrorKind.Transient } => (scripts, "goes out"),
            CapacityWaitException { Reason: "rate-limited" } => (scripts, "waits"),
            _ => throw new InvalidOperationException($"Unexpected outcome: {thrown}"),
        };
    }
}

using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Llm.Simulation;
using Orchestrator.Worker;
using Orchestrator.Worker.Llm;
using Orchestrator.Worker.Llm.FlowControl;
using Polly;
using StackExchange.Redis;

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
    private const string Provider = "p";

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
            // Port 9 (discard) on loopback: nothing listens, a call that goes out is refused at once.
            Endpoint = new Uri("http://127.0.0.1:9/v1"),
            MaxConcurrency = 1,
            Models = [new ModelOptions { Name = "m" }],
        };
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);
        await using var services = Services(harness, options, answerLate ? new LateAnswers() : TimeProvider.System,
            cooldownAfterReserve ? () => flow.ExtendCooldownAsync(Provider, options, TimeSpan.FromSeconds(10), null) : null);
        var caller = services.GetRequiredService<LlmCaller>();

        var call = caller.CallAsync(new JobRequest("Is the deployment cooling down?", "m"), 1, TestContext.Current.CancellationToken);
        var thrown = await Record.ExceptionAsync(() => call.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));

        if (expected == "waits")
        {
            var wait = Assert.IsType<CapacityWaitException>(thrown);
            Assert.Equal("rate-limited", wait.Reason);
            Assert.InRange(wait.Wait, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(10));
        }
        else
        {
            var failure = Assert.IsType<LlmException>(thrown);
            Assert.Equal(LlmErrorKind.Transient, failure.Kind);
        }

        // Settled either way: the permit is back.
        Assert.Equal(0, await flow.PermitsHeldAsync(Provider).Bounded());
    }

    private static ServiceProvider Services(WorkerHarness harness, ProviderOptions provider, TimeProvider clock, Func<Task>? afterReserve)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(clock);
        services.AddSingleton<IConnectionMultiplexer>(harness.Connection);
        services.AddSingleton(harness.Keys);
        services.Configure<LlmOptions>(o => o.Providers[Provider] = provider);
        services.Configure<SimulatorOptions>(_ => { });
        services.Configure<WorkerOptions>(_ => { });
        services.AddSingleton<ModelCatalog>();
        services.AddSingleton<SimulatedChatClient>();
        services.AddSingleton<ChatClientRegistry>();
        services.AddSingleton<DeploymentCircuits>();
        services.AddSingleton<DeploymentFlowControl>();
        services.AddSingleton<LlmCaller>();
        // The worker's redis pipeline, with one addition: another worker's 429 lands right after the reservation.
        services.AddResiliencePipeline(RedisPipeline.Name, builder => builder.AddStrategy(
            _ => new AfterOperation("reserve capacity", afterReserve), new AfterOperationOptions()));
        return services.BuildServiceProvider();
    }
}

/// <summary>A clock on which every reading is 100 ms after the last: every answer of Redis arrives late.</summary>
file sealed class LateAnswers : TimeProvider
{
    private long _offset;

    public override long GetTimestamp() => base.GetTimestamp() + Interlocked.Add(ref _offset, TimestampFrequency / 10);
}

file sealed class AfterOperationOptions : ResilienceStrategyOptions;

/// <summary>Runs <c>after</c> once the operation named <c>operation</c> has run, the first time only.</summary>
file sealed class AfterOperation(string operation, Func<Task>? after) : ResilienceStrategy
{
    private int _done;

    protected override async ValueTask<Outcome<TResult>> ExecuteCore<TResult, TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<TResult>>> callback, ResilienceContext context, TState state)
    {
        var outcome = await callback(context, state).ConfigureAwait(false);
        if (after is not null && context.OperationKey == operation && Interlocked.Exchange(ref _done, 1) == 0)
        {
            await after().ConfigureAwait(false);
        }

        return outcome;
    }
}

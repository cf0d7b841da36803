using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
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
/// The worker's <see cref="LlmCaller"/> and what it stands on, built as the worker builds them, on a
/// real Redis, with one provider <see cref="Provider"/>: for tests of one call's flow control and
/// circuit without a worker process.
/// </summary>
internal static class InProcessLlmCaller
{
    /// <summary>The provider's name.</summary>
    public const string Provider = "p";

    /// <summary>An endpoint where nothing listens (port 9, discard, on loopback): a call that goes out is refused at once.</summary>
    public static readonly Uri Unreachable = new("http://127.0.0.1:9/v1");

    /// <param name="afterReserve">Run once, right after the first reservation answered (another worker's move).</param>
    public static ServiceProvider Build(
        WorkerHarness harness, ProviderOptions provider, TimeProvider? clock = null, Action<LlmOptions>? llm = null, Func<Task>? afterReserve = null)
    {
        var services = new ServiceCollection();
        // Every level kept: tests read the call's lines (GetFakeLogCollector).
        services.AddLogging(logging => logging.AddFakeLogging().SetMinimumLevel(LogLevel.Debug));
        services.AddSingleton(clock ?? TimeProvider.System);
        services.AddSingleton<StoreClock>();
        services.AddSingleton<IConnectionMultiplexer>(harness.Connection);
        services.AddSingleton(harness.Keys);
        services.Configure<LlmOptions>(o =>
        {
            o.Providers[Provider] = provider;
            llm?.Invoke(o);
        });
        services.Configure<SimulatorOptions>(_ => { });
        services.Configure<WorkerOptions>(_ => { });
        services.AddSingleton<ModelCatalog>();
        services.AddSingleton<SimulatedChatClient>();
        services.AddSingleton<ChatClientRegistry>();
        services.AddSingleton<DeploymentCircuits>();
        services.AddSingleton<DeploymentFlowControl>();
        services.AddSingleton<LlmCaller>();
        services.AddResiliencePipeline(RedisPipeline.Name, builder => builder.AddStrategy(
            _ => new AfterOperation("reserve capacity", afterReserve), new AfterOperationOptions()));
        return services.BuildServiceProvider();
    }

    /// <summary>
    /// One call through <see cref="LlmCaller"/> to a <see cref="FakeProvider"/> that answers
    /// <paramref name="answer"/> over real HTTP (its provider set by <paramref name="provider"/>, the
    /// settings by <paramref name="llm"/>), bounded by <paramref name="bound"/>: its outcome and how long it took.
    /// </summary>
    public static async Task<(Outcome<LlmAnswer> Outcome, TimeSpan Took)> CallOnceAsync(
        FakeAnswer answer, TimeSpan bound, Action<LlmOptions>? llm = null, Action<ProviderOptions>? provider = null)
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => answer);
        var options = fake.Provider();
        provider?.Invoke(options);
        await using var services = Build(harness, options, llm: llm);
        var test = TestContext.Current.CancellationToken;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var outcome = await services.GetRequiredService<LlmCaller>()
            .CallOutcomeAsync("job-call-once", new JobRequest("Explain leases.", "m"), 1, test, jobCancellation: test)
            .WaitAsync(bound, test);
        return (outcome, clock.Elapsed);
    }
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

using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Orchestrator.Llm;
using Orchestrator.Worker.Resilience;
using Polly;
using Polly.CircuitBreaker;

namespace Orchestrator.Worker.Llm;

/// <summary>
/// A Polly circuit breaker per deployment (provider), in this worker: when a share of its calls
/// fail transiently, calls to it stop for <c>Llm:CircuitBreakDuration</c>, then one probe decides.
/// Jobs meanwhile fall back to another model or wait, without spending attempts (see <see cref="LlmCaller"/>).
/// </summary>
public sealed class DeploymentCircuits(IOptions<LlmOptions> options, TimeProvider timeProvider)
{
    // A break is an interval: a step of the host's clock must not lengthen or end it.
    private readonly TimeProvider _clock = new MonotonicTimeProvider(timeProvider);
    private readonly ConcurrentDictionary<string, Circuit> _circuits = new(StringComparer.Ordinal);

    /// <summary>How long the deployment's circuit stays open from now; zero when calls may go.</summary>
    public TimeSpan OpenFor(string provider)
    {
        var circuit = Get(provider);
        if (circuit.State.CircuitState is not (CircuitState.Open or CircuitState.Isolated))
        {
            return TimeSpan.Zero;
        }

        var left = circuit.OpenUntil - _clock.GetUtcNow();
        // Open past its break: the next call is the probe. Let it through.
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <summary>
    /// Whether the next call to the deployment is the probe of a circuit that was open: its failure
    /// says the deployment is still down, not that the job's attempt failed.
    /// </summary>
    public bool IsProbing(string provider) =>
        Get(provider).State.CircuitState is CircuitState.HalfOpen or CircuitState.Open;

    /// <summary>
    /// The failure that last opened the deployment's circuit (a probe's, when one failed), null when
    /// none did: a job that fails waiting for the circuit says what the deployment answered.
    /// </summary>
    public string? OpenedOn(string provider) => Get(provider).OpenedOn;

    /// <summary>How long a circuit stays open (<c>Llm:CircuitBreakDuration</c>).</summary>
    public TimeSpan BreakDuration => options.Value.CircuitBreakDuration;

    /// <summary>
    /// Runs one call through the deployment's circuit. Its failure comes back as the outcome's
    /// exception, not thrown: a provider's error then crosses this and the caller's frames without a
    /// rethrow at each (S4's retry path spent a sixth of the worker's CPU rethrowing).
    /// </summary>
    /// <param name="call">Must not throw: it answers its failure as an outcome too (Polly's contract for outcome callbacks).</param>
    public async ValueTask<Outcome<T>> ExecuteAsync<T, TState>(
        string provider, Func<TState, CancellationToken, ValueTask<Outcome<T>>> call, TState state, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            return await Get(provider).Pipeline.ExecuteOutcomeAsync(
                static (ctx, s) => s.Call(s.State, ctx.CancellationToken), context, (Call: call, State: state)).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private Circuit Get(string provider) => _circuits.GetOrAdd(provider, static (_, self) => self.Create(), this);

    private Circuit Create()
    {
        var o = options.Value;
        var circuit = new Circuit();
        circuit.Pipeline = new ResiliencePipelineBuilder { TimeProvider = _clock }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = o.CircuitFailureRatio,
                MinimumThroughput = o.CircuitMinimumThroughput,
                SamplingDuration = o.CircuitSamplingDuration,
                BreakDuration = o.CircuitBreakDuration,
                StateProvider = circuit.State,
                // Only the deployment's own failures count: not a rate limit, not a bad request. A call
                // its attempt's timeout cancelled (a hung provider) counts; one its job cancelled does not.
                ShouldHandle = static args => ValueTask.FromResult(
                    args.Outcome.Exception is { } e && (e is CallTimeoutException || LlmFailure.IsTransient(e))),
                OnOpened = args =>
                {
                    circuit.OpenUntil = _clock.GetUtcNow() + args.BreakDuration;
                    circuit.OpenedOn = args.Outcome.Exception?.Message;
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
        return circuit;
    }

    private sealed class Circuit
    {
        public CircuitBreakerStateProvider State { get; } = new();

        public ResiliencePipeline Pipeline { get; set; } = ResiliencePipeline.Empty;

        public DateTimeOffset OpenUntil { get; set; }

        public string? OpenedOn { get; set; }
    }
}

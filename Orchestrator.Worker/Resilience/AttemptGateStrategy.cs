using Polly;

namespace Orchestrator.Worker.Resilience;

/// <summary>
/// Runs <see cref="IAttemptState.BeforeAttemptAsync"/> before each attempt, between the retry
/// strategy's wait and the per-attempt timeout: what a job does to get ready for its next attempt
/// (take a worker slot back after waiting without one) is neither the wait nor the attempt, so the
/// attempt's timeout does not run while it happens. Polly has no hook there; this strategy is it.
/// </summary>
internal sealed class AttemptGateStrategy : ResilienceStrategy
{
    protected override ValueTask<Outcome<TResult>> ExecuteCore<TResult, TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<TResult>>> callback, ResilienceContext context, TState state)
    {
        if (!context.Properties.TryGetValue(LlmPipeline.StateKey, out var attempt))
        {
            return callback(context, state);
        }

        // Most attempts find the job ready (it kept its slot): no state machine of this strategy's own.
        var ready = attempt.BeforeAttemptAsync(context.CancellationToken);
        return ready.IsCompletedSuccessfully ? callback(context, state) : ReadyThenRunAsync(ready, callback, context, state);
    }

    private static async ValueTask<Outcome<TResult>> ReadyThenRunAsync<TResult, TState>(
        ValueTask ready, Func<ResilienceContext, TState, ValueTask<Outcome<TResult>>> callback, ResilienceContext context, TState state)
    {
        try
        {
            await ready.ConfigureAwait(context.ContinueOnCapturedContext);
        }
        catch (OperationCanceledException e)
        {
            // A strategy answers failures as outcomes (Polly's rule), as the attempt itself does.
            return Outcome.FromException<TResult>(e);
        }

        return await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
    }

    /// <summary>The strategy's options: it has none of its own.</summary>
    internal sealed class Options : ResilienceStrategyOptions
    {
        public Options() => Name = "AttemptGate";
    }
}

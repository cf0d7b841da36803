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
    protected override async ValueTask<Outcome<TResult>> ExecuteCore<TResult, TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<TResult>>> callback, ResilienceContext context, TState state)
    {
        if (context.Properties.TryGetValue(LlmPipeline.StateKey, out var attempt))
        {
            try
            {
                await attempt.BeforeAttemptAsync(context.CancellationToken).ConfigureAwait(context.ContinueOnCapturedContext);
            }
            catch (OperationCanceledException e)
            {
                // A strategy answers failures as outcomes (Polly's rule), as the attempt itself does.
                return Outcome.FromException<TResult>(e);
            }
        }

        return await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
    }

    /// <summary>The strategy's options: it has none of its own.</summary>
    internal sealed class Options : ResilienceStrategyOptions
    {
        public Options() => Name = "AttemptGate";
    }
}

using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using Polly;
using Polly.Retry;

namespace Orchestrator.Worker.Processing;

/// <summary>What the retry strategy needs from the job it is retrying.</summary>
public interface IAttemptState
{
    /// <summary>The attempt that just ran (1-based, persisted; never reset across workers).</summary>
    int Attempt { get; }

    /// <summary>The job's attempt limit.</summary>
    int MaxAttempts { get; }

    /// <summary>Records the failed attempt and the chosen delay, durably, before the wait begins.</summary>
    ValueTask OnRetryAsync(Exception exception, TimeSpan delay);
}

/// <summary>
/// The one resilience pipeline around the LLM call, and the one retry owner: the chat client
/// underneath must not retry on its own. Retry (exponential backoff, attempt count taken from the
/// job, not from Polly's per-process counter) wraps a per-attempt timeout.
/// </summary>
public static class LlmPipeline
{
    /// <summary>The pipeline's registered name.</summary>
    public const string Name = "llm";

    /// <summary>Carries the <see cref="IAttemptState"/> of the job being run.</summary>
    public static readonly ResiliencePropertyKey<IAttemptState> StateKey = new("orchestrator.attempt-state");

    /// <summary>Registers the pipeline under <see cref="Name"/>, with the registered <see cref="TimeProvider"/>.</summary>
    public static IServiceCollection AddLlmPipeline(this IServiceCollection services)
    {
        services.AddResiliencePipeline(Name, static (builder, context) =>
        {
            builder.TimeProvider = context.ServiceProvider.GetRequiredService<TimeProvider>();
            Configure(builder, context.ServiceProvider.GetRequiredService<IOptions<RetryOptions>>().Value, Random.Shared.NextDouble);
        });
        return services;
    }

    /// <summary>Adds the retry and timeout strategies to <paramref name="builder"/>.</summary>
    /// <param name="random">Source of jitter, a number in [0, 1).</param>
    public static ResiliencePipelineBuilder Configure(ResiliencePipelineBuilder builder, RetryOptions options, Func<double> random)
    {
        return builder
            .AddRetry(new RetryStrategyOptions
            {
                // The real bound is the job's persisted attempt count (ShouldHandle); this one only
                // matters for a job that starts fresh here, where the two agree.
                MaxRetryAttempts = Math.Max(1, options.MaxAttempts - 1),
                ShouldHandle = static args => ValueTask.FromResult(
                    args.Outcome.Exception is { } e
                    && AttemptFailure.IsTransient(e)
                    && args.Context.Properties.TryGetValue(StateKey, out var state)
                    && state.Attempt < state.MaxAttempts),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(
                    RetryDelay.After(args.Context.Properties.GetValue(StateKey, null!).Attempt, options, random())),
                OnRetry = static args => args.Context.Properties.GetValue(StateKey, null!)
                    .OnRetryAsync(args.Outcome.Exception!, args.RetryDelay),
            })
            .AddTimeout(options.AttemptTimeout);
    }
}

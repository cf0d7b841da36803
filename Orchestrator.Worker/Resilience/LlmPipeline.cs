using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;
using Orchestrator.Jobs;
using Polly;
using Polly.Retry;
using Polly.Telemetry;

namespace Orchestrator.Worker.Resilience;

/// <summary>What the retry strategy needs from the job it is retrying.</summary>
public interface IAttemptState
{
    /// <summary>The attempt that just ran (1-based, persisted; never reset across workers).</summary>
    int Attempt { get; }

    /// <summary>The job's attempt limit.</summary>
    int MaxAttempts { get; }

    /// <summary>Records the failed attempt and the chosen delay, durably, before the wait begins.</summary>
    ValueTask OnRetryAsync(Exception exception, TimeSpan delay);

    /// <summary>Time this job has waited for deployments so far (429 cooldowns, capacity, open circuits).</summary>
    TimeSpan DeploymentWait { get; }

    /// <summary>The attempt waits <paramref name="delay"/> for its deployment and then runs on, not spent.</summary>
    ValueTask OnDeploymentWaitAsync(CapacityWaitException wait, TimeSpan delay);

    /// <summary>Before each attempt, outside its timeout: the job gets ready to run it (takes its worker slot back).</summary>
    ValueTask BeforeAttemptAsync(CancellationToken cancellationToken);
}

/// <summary>
/// The one resilience pipeline around the LLM call, and the one retry owner: the chat client
/// underneath must not retry on its own. Retry (exponential backoff, attempt count taken from the
/// job, not from Polly's per-process counter) wraps a per-attempt timeout. A wait for the
/// deployment (<see cref="CapacityWaitException"/>: 429 cooldown, capacity, open circuit) is
/// retried too, after the wait it names and without spending an attempt, until the job's waits
/// add up to <c>Llm:MaxRateLimitWait</c>. Between the retry's wait and the timeout, the
/// <see cref="AttemptGateStrategy"/> lets the job get ready for each attempt.
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
            // Polly's own lines off for this pipeline (its metering stays): they name no job, and the
            // worker logs every outcome itself, with JobId and Attempt (a timeout's at Error was a
            // second, anonymous line for each timed-out attempt).
            builder.ConfigureTelemetry(new TelemetryOptions(context.ServiceProvider.GetRequiredService<IOptions<TelemetryOptions>>().Value)
            {
                LoggerFactory = NullLoggerFactory.Instance,
            });
            Configure(builder, context.ServiceProvider.GetRequiredService<IOptions<RetryOptions>>().Value, Random.Shared.NextDouble,
                context.ServiceProvider.GetRequiredService<IOptions<LlmOptions>>().Value.MaxRateLimitWait);
        });
        return services;
    }

    /// <summary>Adds the retry and timeout strategies to <paramref name="builder"/>.</summary>
    /// <param name="random">Source of jitter, a number in [0, 1).</param>
    /// <param name="maxDeploymentWait">A job's longest total wait for deployments (<c>Llm:MaxRateLimitWait</c>).</param>
    public static ResiliencePipelineBuilder Configure(ResiliencePipelineBuilder builder, RetryOptions options, Func<double> random, TimeSpan? maxDeploymentWait = null)
    {
        var maxWait = maxDeploymentWait ?? TimeSpan.FromHours(1);
        return builder
            .AddRetry(new RetryStrategyOptions
            {
                // The bound is the job's persisted attempt count and its deployment waits (ShouldHandle),
                // not Polly's counter: waits for a deployment do not spend attempts.
                MaxRetryAttempts = int.MaxValue,
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } e
                    && args.Context.Properties.TryGetValue(StateKey, out var state)
                    && (e is CapacityWaitException wait
                        ? wait.BeforeAttempt || state.DeploymentWait + wait.Wait <= maxWait
                        : AttemptFailure.IsTransient(e) && state.Attempt < state.MaxAttempts)),
                DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(args.Outcome.Exception is CapacityWaitException wait
                    ? wait.Wait
                    : RetryDelay.After(args.Context.Properties.GetValue(StateKey, null!).Attempt, options, random())),
                OnRetry = static args => args.Outcome.Exception is CapacityWaitException wait
                    ? args.Context.Properties.GetValue(StateKey, null!).OnDeploymentWaitAsync(wait, args.RetryDelay)
                    : args.Context.Properties.GetValue(StateKey, null!).OnRetryAsync(args.Outcome.Exception!, args.RetryDelay),
            })
            .AddStrategy(static _ => new AttemptGateStrategy(), new AttemptGateStrategy.Options())
            .AddTimeout(options.AttemptTimeout);
    }
}

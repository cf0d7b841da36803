using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;

namespace Orchestrator.Jobs;

/// <summary>
/// The one retry policy for Redis calls, registered as the resilience pipeline <see cref="Name"/>:
/// a call that meets a transient failure (<see cref="RedisFailure"/>) is sent again after an
/// exponential, jittered backoff, without limit, until it succeeds or its caller's token ends it.
/// Sending again is safe because every transition is idempotent: a call that already applied
/// answers as it did the first time (see docs/design/job-store.md).
/// </summary>
public static partial class RedisPipeline
{
    /// <summary>The pipeline's registered name.</summary>
    public const string Name = "redis";

    /// <summary>The first wait after a failure; it doubles up to <see cref="MaxDelay"/>.</summary>
    public static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait between two tries.</summary>
    public static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Registers the pipeline (with the registered <see cref="TimeProvider"/>). On NOGROUP it
    /// creates the consumer group again before the next try.
    /// </summary>
    public static IServiceCollection AddRedisPipeline(this IServiceCollection services)
    {
        services.AddResiliencePipeline(Name, static (builder, context) =>
        {
            var provider = context.ServiceProvider;
            builder.TimeProvider = provider.GetRequiredService<TimeProvider>();
            var logger = provider.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(RedisPipeline).FullName!);
            Configure(builder, logger, () => provider.GetRequiredService<JobStore>().EnsureConsumerGroupAsync(), provider.GetRequiredService<RedisRetryStreaks>());
        });
        services.TryAddSingleton<RedisRetryStreaks>();
        return services;
    }

    /// <summary>Adds the retry strategy to <paramref name="builder"/>.</summary>
    /// <param name="recreateGroup">Called before the next try when the consumer group was missing.</param>
    /// <param name="streaks">Where each retry is counted (for <c>/health</c>), if anywhere.</param>
    /// <remarks>
    /// A retry is logged once a second at most per operation and kind of failure, counting the others: the calls that
    /// retry one operation at once (a worker's outcome writes, one per partition) wrote a line each,
    /// 107 lines per worker in 30 s of Redis killed with 6 partitions.
    /// </remarks>
    public static ResiliencePipelineBuilder Configure(ResiliencePipelineBuilder builder, ILogger logger, Func<Task> recreateGroup, RedisRetryStreaks? streaks = null)
    {
        var time = builder.TimeProvider ?? TimeProvider.System;
        var lines = new ConcurrentDictionary<(string, RedisFailureKind), LogThrottle>();
        return builder.AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = int.MaxValue,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = FirstDelay,
            MaxDelay = MaxDelay,
            ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Exception is { } e && RedisFailure.IsTransient(e)),
            OnRetry = async args =>
            {
                var exception = args.Outcome.Exception!;
                var kind = RedisFailure.Classify(exception);
                var operation = args.Context.OperationKey ?? "redis call";
                // Per kind too: a rarer failure of the operation (a missing group) is not hidden behind a common one.
                if (lines.GetOrAdd((operation, kind), _ => new LogThrottle(time)).ShouldLog(out var alsoSeen))
                {
                    LogRetry(logger, operation, kind, exception.GetType().Name, args.AttemptNumber + 1, args.RetryDelay, alsoSeen, exception.Message);
                }

                streaks?.Retried(operation, kind);
                if (kind == RedisFailureKind.NoGroup)
                {
                    try
                    {
                        await recreateGroup().ConfigureAwait(false);
                    }
                    catch (Exception e) when (RedisFailure.IsTransient(e))
                    {
                        // The next try meets the same failure and comes back here.
                    }
                }
            },
        });
    }

    /// <summary>
    /// Runs <paramref name="call"/> through <paramref name="pipeline"/>; <paramref name="operation"/>
    /// names it in the retry log lines.
    /// </summary>
    public static async ValueTask<T> ExecuteRedisAsync<T>(
        this ResiliencePipeline pipeline, string operation, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        var context = ResilienceContextPool.Shared.Get(operation, cancellationToken);
        try
        {
            return await pipeline.ExecuteAsync(
                static async (ctx, call) => await call(ctx.CancellationToken).ConfigureAwait(false), context, call).ConfigureAwait(false);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis {Operation} failed ({Kind}, {ExceptionType}); try {Try} in {Delay} ({NotLogged} more retries of it since the last line): {Reason}")]
    private static partial void LogRetry(ILogger logger, string operation, RedisFailureKind kind, string exceptionType, int @try, TimeSpan delay, int notLogged, string reason);
}

using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Jobs;
using Polly;
using StackExchange.Redis;

namespace Orchestrator.UnitTests.Jobs;

/// <summary>
/// A worker whose Redis writes keep being refused (a node left a replica, a full memory) retries
/// without limit and never faults a loop, and the API answers each refused submission 503 and goes
/// on: <c>/health</c> reads how long retries and refusals have gone on, with each service's thresholds.
/// </summary>
public sealed class RedisRetriesHealthCheckTests
{
    private readonly FakeTimeProvider _clock = new();
    private readonly RedisRetryStreaks _streaks;
    private readonly RedisRetriesHealthCheck _check;

    public RedisRetriesHealthCheckTests()
    {
        _streaks = new RedisRetryStreaks(_clock);
        _check = new RedisRetriesHealthCheck(_streaks, RedisRetriesHealthCheck.WorkerDegraded, RedisRetriesHealthCheck.WorkerUnhealthy);
    }

    [Fact]
    public async Task RetriesEveryTwoSeconds_DegradedFrom10s_UnhealthyFrom60s_HealthyOnceTheyStop()
    {
        Assert.Equal(HealthStatus.Healthy, await StatusAsync());
        RetryFor(TimeSpan.FromSeconds(8));
        Assert.Equal(HealthStatus.Healthy, await StatusAsync());
        RetryFor(TimeSpan.FromSeconds(4));
        Assert.Equal(HealthStatus.Degraded, await StatusAsync());
        RetryFor(TimeSpan.FromSeconds(62));
        var unhealthy = await _check.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);
        Assert.Equal(HealthStatus.Unhealthy, unhealthy.Status);
        Assert.Contains("finish for 72 s", unhealthy.Description, StringComparison.Ordinal);

        // The operation succeeded: no retry for longer than the gap ends the streak.
        _clock.Advance(RedisRetryStreaks.Gap + TimeSpan.FromSeconds(1));
        Assert.Equal(HealthStatus.Healthy, await StatusAsync());
        _streaks.Retried("finish");
        Assert.Equal(HealthStatus.Healthy, await StatusAsync());
    }

    [Fact]
    public async Task ApiThresholds_DegradedFromTheFirstRefusal_NeverUnhealthy_HealthyOnceAWriteSucceeds()
    {
        var api = new RedisRetriesHealthCheck(_streaks, TimeSpan.Zero, unhealthyAfter: null);
        Assert.Equal(HealthStatus.Healthy, (await api.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);
        _streaks.Retried("submit");
        Assert.Equal(HealthStatus.Degraded, (await api.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);
        for (var i = 0; i < 60; i++)
        {
            _clock.Advance(TimeSpan.FromSeconds(2));
            _streaks.Retried("submit");
        }

        var refused = await api.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);
        Assert.Equal(HealthStatus.Degraded, refused.Status);
        Assert.Contains("submit for 120 s", refused.Description, StringComparison.Ordinal);
        _streaks.Succeeded("submit");
        Assert.Equal(HealthStatus.Healthy, (await api.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);
    }

    [Fact]
    public async Task ApiGap_ClientsResendingAfterTheirRetryAfter_StayDegradedUntilAWriteSucceedsOrTheyStop()
    {
        // Clients obey the 503's Retry-After (5 s) and re-send a little later: at the worker's gap
        // the API was Healthy between two refusals while Redis was still full.
        var streaks = new RedisRetryStreaks(_clock, RedisRetryStreaks.ApiGap);
        var api = new RedisRetriesHealthCheck(streaks, TimeSpan.Zero, unhealthyAfter: null);
        for (var i = 0; i < 6; i++)
        {
            streaks.Retried("submit");
            _clock.Advance(TimeSpan.FromSeconds(5.5));
            Assert.Equal(HealthStatus.Degraded, (await api.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);
        }

        _clock.Advance(RedisRetryStreaks.ApiGap);
        Assert.Equal(HealthStatus.Healthy, (await api.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);
        Assert.True(RedisRetryStreaks.Gap < TimeSpan.FromSeconds(5.5), "the worker's gap would split these refusals");
    }

    [Fact]
    public async Task TheRedisPipeline_CountsEachRetryOfItsOperation()
    {
        var pipeline = RedisPipeline.Configure(new ResiliencePipelineBuilder { TimeProvider = _clock }, NullLogger.Instance, () => Task.CompletedTask, _streaks).Build();
        var tries = 0;
        var call = pipeline.ExecuteRedisAsync("finish", _ => ++tries < 4
            ? throw new RedisServerException("READONLY You can't write against a read only replica.")
            : Task.FromResult(true), TestContext.Current.CancellationToken).AsTask();
        await FakeClocks.AdvanceUntilDoneAsync(_clock, call, TimeSpan.FromSeconds(1));

        await call;
        Assert.Equal(4, tries);
        Assert.True(_streaks.Current().ContainsKey("finish"));
    }

    private void RetryFor(TimeSpan span)
    {
        for (var left = span; left > TimeSpan.Zero; left -= TimeSpan.FromSeconds(2))
        {
            _clock.Advance(TimeSpan.FromSeconds(2));
            _streaks.Retried("finish");
        }
    }

    private async Task<HealthStatus> StatusAsync() =>
        (await _check.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status;
}

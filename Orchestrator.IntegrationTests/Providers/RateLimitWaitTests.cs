using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm;
using Orchestrator.Worker.Llm.FlowControl;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// The wait the worker's own <see cref="LlmCaller"/> takes from a provider's 429 over HTTP (a
/// <see cref="FakeProvider"/>), and the deployment's cooldown it writes to Redis: never less than
/// <see cref="LlmCaller.DefaultCooldown"/>, so that waits add up to <c>Llm:MaxRateLimitWait</c>.
/// </summary>
public sealed class RateLimitWaitTests
{
    public static TheoryData<string, string> NoWaitAnnounced => new()
    {
        { "Retry-After", "0" },
        { "retry-after-ms", "0" },
        { "Retry-After", DateTimeOffset.UtcNow.AddMinutes(-5).ToString("R", CultureInfo.InvariantCulture) },
        { "x-ratelimit-reset-requests", "0s" },
        { "retry-after-ms", "3" },
    };

    [Theory]
    [MemberData(nameof(NoWaitAnnounced))]
    public async Task RateLimited_AnnouncedWaitUnderASecond_WaitsASecond(string header, string value)
    {
        var (wait, cooldown) = await RateLimitedAsync(header, value);

        Assert.Equal(LlmCaller.DefaultCooldown, wait);
        Assert.InRange(cooldown, LlmCaller.DefaultCooldown - TimeSpan.FromMilliseconds(500), LlmCaller.DefaultCooldown);
    }

    [Fact]
    public async Task RateLimited_AnnouncedWaitOverASecond_WaitsIt()
    {
        var (wait, _) = await RateLimitedAsync("retry-after-ms", "2500");

        Assert.Equal(TimeSpan.FromMilliseconds(2500), wait);
    }

    [Theory]
    [InlineData("Retry-After", "1e20")]
    [InlineData("retry-after-ms", "99999999999999999999")]
    [InlineData("Retry-After", "Infinity")]
    public async Task RateLimited_AnnouncedWaitBeyondReason_WaitsTheLongestWait_CooldownWritten(string header, string value)
    {
        var (wait, cooldown) = await RateLimitedAsync(header, value);

        Assert.Equal(RateLimitHeaders.MaximumWait, wait);
        Assert.InRange(cooldown, RateLimitHeaders.MaximumWait - TimeSpan.FromSeconds(5), RateLimitHeaders.MaximumWait);
    }

    /// <summary>One call answered 429 with <paramref name="header"/>: the wait it made the job take, and the cooldown left in Redis just after.</summary>
    private static async Task<(TimeSpan Wait, TimeSpan Cooldown)> RateLimitedAsync(string header, string value)
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => FakeAnswer.Json(429,
            """{"error":{"type":"requests","code":"rate_limit_exceeded","message":"Rate limit reached."}}""",
            new Dictionary<string, string> { [header] = value }));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());

        var wait = await Assert.ThrowsAsync<CapacityWaitException>(() => services.GetRequiredService<LlmCaller>()
            .CallAsync("job-429", new JobRequest("Explain leases.", "m"), 1, TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
        var cooldown = await services.GetRequiredService<DeploymentFlowControl>().CooldownLeftAsync(InProcessLlmCaller.Provider).Bounded();
        Assert.Equal("rate-limited", wait.Reason);
        // Quoted by the job's error if the wait fails it (AttemptFailure.ErrorOf): the provider's own words.
        Assert.Equal("429 rate_limit_exceeded: Rate limit reached.", wait.Cause);
        return (wait.Wait, cooldown);
    }
}

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

    // OpenAI's 429 for a tokens limit a few hundred short of the call: no Retry-After, the limit's
    // reset 58 s away, the call's own wait in the message. The fleet paused 58 s (an outside audit).
    [Fact]
    public async Task RateLimited_OpenAisMessageNamesTheWait_ItIsTaken_NotTheLimitsReset()
    {
        const string message = "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29100, " +
            "Requested 2400. Please try again in 2.8s. Visit https://platform.openai.com/account/rate-limits to learn more.";

        var (wait, cooldown) = await RateLimitedAsync(
            new Dictionary<string, string>
            {
                ["x-ratelimit-limit-tokens"] = "30000",
                ["x-ratelimit-remaining-tokens"] = "900",
                ["x-ratelimit-reset-tokens"] = "58s",
                ["x-ratelimit-remaining-requests"] = "499",
                ["x-ratelimit-reset-requests"] = "120ms",
            },
            "tokens",
            message);

        Assert.Equal(TimeSpan.FromMilliseconds(2800), wait);
        Assert.InRange(cooldown, TimeSpan.FromMilliseconds(1800), TimeSpan.FromMilliseconds(2800));
    }

    private static Task<(TimeSpan Wait, TimeSpan Cooldown)> RateLimitedAsync(string header, string value) =>
        RateLimitedAsync(new Dictionary<string, string> { [header] = value }, "requests", "Rate limit reached.");

    /// <summary>One call answered 429 with <paramref name="headers"/>: the wait it made the job take, and the cooldown left in Redis just after.</summary>
    private static async Task<(TimeSpan Wait, TimeSpan Cooldown)> RateLimitedAsync(Dictionary<string, string> headers, string type, string message)
    {
        var (wait, cooldown) = await RateLimitedByAsync(FakeAnswer.Json(429,
            $$$"""{"error":{"type":"{{{type}}}","code":"rate_limit_exceeded","message":"{{{message}}}"}}""",
            headers));
        // Quoted by the job's error if the wait fails it (AttemptFailure.ErrorOf): the provider's own words.
        Assert.Equal($"429 rate_limit_exceeded: {message}", wait.Cause);
        return (wait.Wait, cooldown);
    }

    // Gemini's OpenAI-compatible endpoint names its wait in its body alone (RetryInfo), in an array, and
    // OpenRouter in X-RateLimit-Reset (Unix ms): each 429 waited 1 s, and a fleet's 30 waiting jobs
    // called 364 times in 20 s (an outside audit).
    [Fact]
    public async Task RateLimited_GeminisRetryDelayInItsBody_ItIsWaited()
    {
        var (wait, cooldown) = await RateLimitedByAsync(FakeAnswer.Json(429,
            """[{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}]}}]"""));

        Assert.Equal(TimeSpan.FromSeconds(3), wait.Wait);
        Assert.InRange(cooldown, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(3));
        Assert.Equal("429 RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota).", wait.Cause);
    }

    [Fact]
    public async Task RateLimited_OpenRoutersResetInUnixMilliseconds_ItIsWaited()
    {
        var sent = DateTimeOffset.UtcNow;
        var (wait, _) = await RateLimitedByAsync(FakeAnswer.Json(429,
            """{"error":{"code":429,"message":"Rate limit exceeded: free-models-per-min"}}""",
            new Dictionary<string, string>
            {
                ["X-RateLimit-Limit"] = "20",
                ["X-RateLimit-Remaining"] = "0",
                ["X-RateLimit-Reset"] = sent.AddSeconds(4).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
            }));

        // Counted from the fake's Date (whole seconds): 3–5 s.
        Assert.InRange(wait.Wait, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(5));
    }

    // A 429 that says nothing of a wait (a gateway's, a self-hosted server's): every round of them
    // waited 1 s, and a fleet's waiting jobs called again every second, 11-30 429s a second (an
    // outside audit). Each round now waits twice the last.
    [Fact]
    public async Task RateLimited_NoWaitAnnounced_EachRoundWaitsTwiceTheLast()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => FakeAnswer.Json(429, """{"error":{"message":"Too many requests"}}"""));
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());
        var flow = services.GetRequiredService<DeploymentFlowControl>();

        var waits = new List<TimeSpan>();
        for (var round = 0; round < 3; round++)
        {
            var wait = await Assert.ThrowsAsync<CapacityWaitException>(() => services.GetRequiredService<LlmCaller>()
                .CallAsync("job-429", new JobRequest("Explain leases.", "m"), 1, TestContext.Current.CancellationToken)
                .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
            waits.Add(wait.Wait);
            await AsyncWait.WaitUntilAsync(
                async () => await flow.CooldownLeftAsync(InProcessLlmCaller.Provider).Bounded() == TimeSpan.Zero,
                TimeSpan.FromSeconds(10), "the round's cooldown ended", TimeSpan.FromMilliseconds(20));
        }

        Assert.Equal(3, fake.Requests.Count);
        Assert.InRange(waits[0], TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(1));
        Assert.InRange(waits[1], TimeSpan.FromMilliseconds(1900), TimeSpan.FromSeconds(2));
        Assert.InRange(waits[2], TimeSpan.FromMilliseconds(3900), TimeSpan.FromSeconds(4));
    }

    /// <summary>One call answered <paramref name="answer"/> (a 429): the wait it made the job take, and the cooldown left in Redis just after.</summary>
    private static async Task<(CapacityWaitException Wait, TimeSpan Cooldown)> RateLimitedByAsync(FakeAnswer answer)
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => answer);
        await using var services = InProcessLlmCaller.Build(harness, fake.Provider());

        var wait = await Assert.ThrowsAsync<CapacityWaitException>(() => services.GetRequiredService<LlmCaller>()
            .CallAsync("job-429", new JobRequest("Explain leases.", "m"), 1, TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken));
        var cooldown = await services.GetRequiredService<DeploymentFlowControl>().CooldownLeftAsync(InProcessLlmCaller.Provider).Bounded();
        Assert.Equal("rate-limited", wait.Reason);
        return (wait, cooldown);
    }
}

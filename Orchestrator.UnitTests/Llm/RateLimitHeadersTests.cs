using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Llm;

namespace Orchestrator.UnitTests.Llm;

/// <summary>How long a 429's headers ask to wait: each header read, and an absurd wait bounded instead of overflowing.</summary>
public sealed class RateLimitHeadersTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    private static TimeSpan? RetryAfter(string name, string value) =>
        RateLimitHeaders.RetryAfter(h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase) ? value : null, Now);

    [Theory]
    [InlineData("retry-after-ms", "1500", 1500)]
    [InlineData("Retry-After", "2", 2000)]
    [InlineData("Retry-After", "Tue, 01 Dec 2026 12:00:30 GMT", 30_000)]
    [InlineData("x-ratelimit-reset-tokens", "1m2.5s", 62_500)]
    [InlineData("x-ratelimit-reset-requests", "20ms", 20)]
    public void RetryAfter_EachHeader_ReadAsItsWait(string name, string value, double milliseconds)
    {
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), RetryAfter(name, value));
    }

    [Theory]
    // The tokens limit is spent (its reset 2 s away), the requests one is not (6 minutes to be whole again).
    [InlineData("9990", "0", 2_000)]
    [InlineData("0", "5000", 360_000)]
    // Both spent, or no remaining said: the later reset.
    [InlineData("0", "0", 360_000)]
    [InlineData(null, null, 360_000)]
    [InlineData("9990", "5000", 360_000)]
    public void RetryAfter_BothResets_TheSpentLimitsOne(string? remainingRequests, string? remainingTokens, double milliseconds)
    {
        var headers = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["x-ratelimit-reset-requests"] = "6m0s",
            ["x-ratelimit-reset-tokens"] = "2s",
            ["x-ratelimit-remaining-requests"] = remainingRequests,
            ["x-ratelimit-remaining-tokens"] = remainingTokens,
        };

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), RateLimitHeaders.RetryAfter(h => headers.GetValueOrDefault(h), Now));
    }

    [Theory]
    // No remaining count at 0: OpenAI's error type names the spent limit (a tokens limit with 125 left
    // is spent for a bigger call); another type, or none, leaves the later reset.
    [InlineData("tokens", 116)]
    [InlineData("requests", 25_000)]
    [InlineData("rate_limit_exceeded", 25_000)]
    [InlineData(null, 25_000)]
    public void RetryAfter_NoRemainingAtZero_TheLimitTheErrorTypeNames(string? type, double milliseconds)
    {
        var headers = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["x-ratelimit-reset-requests"] = "25s",
            ["x-ratelimit-reset-tokens"] = "116ms",
            ["x-ratelimit-remaining-requests"] = "9999",
            ["x-ratelimit-remaining-tokens"] = "125",
        };

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), RateLimitHeaders.RetryAfter(h => headers.GetValueOrDefault(h), Now, type));
    }

    [Theory]
    // The worker's clock 5 minutes behind or ahead of the provider's: a date 8 s past the response's
    // Date is 8 s (it was 308 s and 0 s), and one before it is no wait (it was 295 s).
    [InlineData(-300, 8, 8)]
    [InlineData(300, 8, 8)]
    [InlineData(-300, -5, 0)]
    public void RetryAfter_DateWithTheResponsesDate_CountedFromItWhateverTheLocalClock(int localClockOff, int retryAfter, int seconds)
    {
        var sent = new DateTimeOffset(2026, 12, 7, 10, 35, 18, TimeSpan.Zero);
        var local = new FakeTimeProvider(sent.AddSeconds(localClockOff));
        var headers = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Date"] = sent.ToString("R", CultureInfo.InvariantCulture),
            ["Retry-After"] = sent.AddSeconds(retryAfter).ToString("R", CultureInfo.InvariantCulture),
        };

        Assert.Equal(TimeSpan.FromSeconds(seconds), RateLimitHeaders.RetryAfter(h => headers.GetValueOrDefault(h), local.GetUtcNow()));
    }

    [Theory]
    // No Date, or one that is no date: counted from the caller's now (Redis's clock in the worker).
    [InlineData(null)]
    [InlineData("yesterday")]
    public void RetryAfter_DateWithoutAResponseDate_CountedFromNow(string? date)
    {
        var headers = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Date"] = date,
            ["Retry-After"] = "Tue, 01 Dec 2026 12:00:30 GMT",
        };

        Assert.Equal(TimeSpan.FromSeconds(30), RateLimitHeaders.RetryAfter(h => headers.GetValueOrDefault(h), Now));
    }

    [Theory]
    [InlineData("Retry-After", "1e20")]
    [InlineData("Retry-After", "Infinity")]
    [InlineData("retry-after-ms", "99999999999999999999")]
    [InlineData("retry-after-ms", "1e308")]
    [InlineData("x-ratelimit-reset-requests", "99999999999999h")]
    [InlineData("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT")]
    public void RetryAfter_BeyondTheLongestWait_IsTheLongestWait(string name, string value)
    {
        Assert.Equal(RateLimitHeaders.MaximumWait, RetryAfter(name, value));
    }

    [Theory]
    [InlineData("Retry-After", "NaN")]
    [InlineData("Retry-After", "-5")]
    [InlineData("retry-after-ms", "soon")]
    public void RetryAfter_NotAWait_IsNone(string name, string value)
    {
        Assert.Null(RetryAfter(name, value));
    }

    private const string OpenAiTokensLimit =
        "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29100, Requested 2400. " +
        "Please try again in {0}. Visit https://platform.openai.com/account/rate-limits to learn more.";

    [Theory]
    // The message's wait for this call, not the reset headers' (58 s until the limit is whole again).
    [InlineData("2.8s", 2_800)]
    [InlineData("120ms", 120)]
    [InlineData("1m2.5s", 62_500)]
    // A day's limit: the longest wait, past which the job fails at once instead of asking every second.
    [InlineData("114h18m0s", 86_400_000)]
    public void RetryAfter_OpenAisMessageNamesTheWait_ItIsTaken_BeforeTheResetHeaders(string named, double milliseconds)
    {
        var headers = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["x-ratelimit-reset-requests"] = "8.64s",
            ["x-ratelimit-reset-tokens"] = "58s",
            ["x-ratelimit-remaining-requests"] = "499",
            ["x-ratelimit-remaining-tokens"] = "900",
        };
        var message = string.Format(CultureInfo.InvariantCulture, OpenAiTokensLimit, named);

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), RateLimitHeaders.RetryAfter(h => headers.GetValueOrDefault(h), Now, "tokens", message));
        // With no header at all, as OpenAI's 429s often come, the message alone.
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), RateLimitHeaders.RetryAfter(_ => null, Now, "tokens", message));
    }

    [Fact]
    public void RetryAfter_RetryAfterHeader_BeforeTheMessage()
    {
        var message = string.Format(CultureInfo.InvariantCulture, OpenAiTokensLimit, "2.8s");

        Assert.Equal(TimeSpan.FromSeconds(5), RateLimitHeaders.RetryAfter(h => h == "retry-after" ? "5" : null, Now, "tokens", message));
    }

    [Theory]
    // No duration in the headers' form: the headers decide (here the tokens reset), else no wait is known.
    [InlineData("Please try again in 5 minutes.")]
    [InlineData("Please try again in a while.")]
    [InlineData("Rate limit reached.")]
    public void RetryAfter_MessageWithoutADuration_TheHeadersDecide(string message)
    {
        Assert.Equal(TimeSpan.FromSeconds(58), RateLimitHeaders.RetryAfter(h => h == "x-ratelimit-reset-tokens" ? "58s" : null, Now, "tokens", message));
        Assert.Null(RateLimitHeaders.RetryAfter(_ => null, Now, "tokens", message));
    }

    [Theory]
    // Together's and Mistral's seconds; OpenRouter's Unix milliseconds, and a Unix time in seconds,
    // counted from the response's Date.
    [InlineData("x-ratelimit-reset", "20", 20_000)]
    [InlineData("ratelimitbysize-reset", "31", 31_000)]
    [InlineData("x-ratelimit-reset", "1796126420000", 20_000)]
    [InlineData("x-ratelimit-reset", "1796126420", 20_000)]
    [InlineData("x-ratelimit-reset", "7.66s", 7_660)]
    public void RetryAfter_OtherProvidersReset_ItsWait(string name, string value, double milliseconds)
    {
        var sent = DateTimeOffset.FromUnixTimeSeconds(1796126400);
        var headers = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Date"] = sent.ToString("R", CultureInfo.InvariantCulture),
            [name] = value,
        };

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), RateLimitHeaders.RetryAfter(h => headers.GetValueOrDefault(h), Now));
    }

    [Fact]
    public void RetryAfter_GooglesRetryDelay_AfterRetryAfter_BeforeTheMessageAndResets()
    {
        var message = string.Format(CultureInfo.InvariantCulture, OpenAiTokensLimit, "2.8s");
        var resets = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase) { ["x-ratelimit-reset-tokens"] = "58s" };

        Assert.Equal(TimeSpan.FromSeconds(20), RateLimitHeaders.RetryAfter(h => resets.GetValueOrDefault(h), Now, "tokens", message, "20s"));
        Assert.Equal(TimeSpan.FromSeconds(5), RateLimitHeaders.RetryAfter(h => h == "retry-after" ? "5" : null, Now, null, null, "20s"));
        Assert.Equal(TimeSpan.FromSeconds(2.8), RateLimitHeaders.RetryAfter(_ => null, Now, "tokens", message, "soon"));
    }
}

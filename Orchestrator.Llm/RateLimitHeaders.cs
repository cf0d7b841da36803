using System.Globalization;
using System.Text.RegularExpressions;

namespace Orchestrator.Llm;

/// <summary>
/// Reads how long a 429 asks to wait, from the headers OpenAI sends: <c>retry-after-ms</c>
/// (milliseconds), <c>Retry-After</c> (seconds, or an HTTP date counted from the response's <c>Date</c>), else the
/// wait OpenAI's error message names (<c>Please try again in 2.8s.</c>), else <c>x-ratelimit-reset-requests</c>
/// or <c>x-ratelimit-reset-tokens</c> (durations like <c>6m0s</c>, <c>20ms</c>): the spent limit's
/// (its <c>x-ratelimit-remaining-*</c> 0, else the one the error's <c>type</c> names), or the later of the two.
/// </summary>
public static partial class RateLimitHeaders
{
    /// <summary>
    /// The longest wait taken from the headers: one announced longer (<c>Retry-After: 1e20</c>,
    /// <c>Infinity</c>) is taken as this, where it overflowed <see cref="TimeSpan"/>. Past
    /// <c>Llm:MaxRateLimitWait</c> a job fails <c>rate-limited</c> at once all the same, and the
    /// deployment's cooldown lasts this long.
    /// </summary>
    public static readonly TimeSpan MaximumWait = TimeSpan.FromDays(1);

    /// <summary>The wait the headers announce (at most <see cref="MaximumWait"/>), or null when they announce none.</summary>
    /// <param name="header">Reads a header by name (case-insensitive), null when absent.</param>
    /// <param name="now">What a <c>Retry-After</c> date is counted from when the response has no <c>Date</c>.</param>
    /// <param name="spentLimit">The error's <c>type</c>, which names the spent limit in OpenAI's 429s (<c>requests</c> or <c>tokens</c>).</param>
    /// <param name="message">The error's message, where OpenAI names the wait this call needs.</param>
    /// <param name="retryDelay">The wait the error's body names in Google's form (<c>RetryInfo.retryDelay</c>, <c>"20s"</c>: Gemini's).</param>
    public static TimeSpan? RetryAfter(Func<string, string?> header, DateTimeOffset now, string? spentLimit = null, string? message = null, string? retryDelay = null)
    {
        if (header("retry-after-ms") is { } ms && double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out var millis) && millis >= 0)
        {
            return Bounded(millis);
        }

        if (header("retry-after") is { } retryAfter)
        {
            if (double.TryParse(retryAfter, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
            {
                return Bounded(seconds * 1000);
            }

            if (Date(retryAfter) is { } date)
            {
                return Until(date, header, now);
            }
        }

        if (Duration(retryDelay) is { } delay)
        {
            return delay;
        }

        // OpenAI reckons this call's wait in its message (its tokens against the limit's refill) and often
        // sends no Retry-After. The reset headers below say when a limit is whole again: a tokens limit
        // a few hundred short of a call had the fleet wait its 58 s reset where the message asked for 3 s
        // (an outside audit). The message's duration is in the headers' own form.
        if (message is not null && TryAgainPattern().Match(message) is { Success: true } asked && Duration(asked.Groups["d"].Value) is { } named)
        {
            return named;
        }

        var requests = Duration(header("x-ratelimit-reset-requests"));
        var tokens = Duration(header("x-ratelimit-reset-tokens"));
        if (requests is null && tokens is null)
        {
            // Other providers' one reset: OpenRouter's X-RateLimit-Reset (Unix ms), Together's
            // x-ratelimit-reset and Mistral's ratelimitbysize-reset (seconds). Unread, each 429 waited
            // 1 s where 5–31 s were announced: every waiting job called again each second (an outside audit).
            return Reset(header("x-ratelimit-reset"), header, now) ?? Reset(header("ratelimitbysize-reset"), header, now);
        }

        // A reset is when that limit is whole again, so only the spent one's says when a call fits: a
        // tokens limit at 0 with its reset in 2 s beside a requests limit far from spent whose reset
        // is 6 minutes away asks for 2 s. The remaining counts say which, else OpenAI's error type
        // (a tokens limit with a call's worth left is spent for a bigger call: the 429 waited the
        // requests limit's 25 s where its body asked for 116 ms, an outside audit). Not knowing which
        // is spent, the later (never too soon).
        var requestsSpent = Spent(header("x-ratelimit-remaining-requests"));
        var tokensSpent = Spent(header("x-ratelimit-remaining-tokens"));
        if (requestsSpent == tokensSpent && !requestsSpent)
        {
            requestsSpent = string.Equals(spentLimit, "requests", StringComparison.OrdinalIgnoreCase);
            tokensSpent = string.Equals(spentLimit, "tokens", StringComparison.OrdinalIgnoreCase);
        }

        if (requestsSpent != tokensSpent && (requestsSpent ? requests : tokens) is { } spent)
        {
            return spent;
        }

        return TimeSpan.FromTicks(Math.Max(requests?.Ticks ?? 0, tokens?.Ticks ?? 0));
    }

    // A number of seconds, or a Unix time (seconds, or milliseconds past 1e12) counted from the response's
    // Date as a Retry-After date is (Until); a duration in the reset headers' form ("7.66s") as it reads.
    private static TimeSpan? Reset(string? value, Func<string, string?> header, DateTimeOffset now)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || !double.IsFinite(number) || number < 0)
        {
            return Duration(value);
        }

        if (number < 1e9)
        {
            return Bounded(number * 1000);
        }

        var at = DateTimeOffset.UnixEpoch.AddMilliseconds(Math.Min(number >= 1e12 ? number : number * 1000, DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()));
        return Until(at, header, now);
    }

    // A time on the provider's clock: counted from the response's Date, on the same clock (RFC 9110
    // §10.2.3). Counted from the worker's, a worker 5 minutes behind wrote a fleet-wide cooldown of 5
    // minutes more, and one ahead the shortest, calling inside the provider's window.
    private static TimeSpan Until(DateTimeOffset at, Func<string, string?> header, DateTimeOffset now)
    {
        var sent = Date(header("date")) ?? now;
        return at > sent ? Bounded((at - sent).TotalMilliseconds) : TimeSpan.Zero;
    }

    private static bool Spent(string? remaining) =>
        long.TryParse(remaining, NumberStyles.Integer, CultureInfo.InvariantCulture, out var left) && left <= 0;

    /// <summary>The limits announced in <c>x-ratelimit-limit-requests</c> and <c>x-ratelimit-limit-tokens</c>, or null.</summary>
    public static AnnouncedLimits? Limits(Func<string, string?> header)
    {
        static int? Parse(string? value) =>
            int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : null;
        var requests = Parse(header("x-ratelimit-limit-requests"));
        var tokens = Parse(header("x-ratelimit-limit-tokens"));
        return requests is null && tokens is null ? null : new AnnouncedLimits(requests, tokens);
    }

    /// <summary>Formats a duration as OpenAI's reset headers do (<c>1m2.5s</c>, <c>20ms</c>).</summary>
    public static string FormatDuration(TimeSpan duration)
    {
        if (duration < TimeSpan.FromSeconds(1))
        {
            return $"{Math.Max(0, (int)Math.Ceiling(duration.TotalMilliseconds))}ms";
        }

        var minutes = (int)duration.TotalMinutes;
        var seconds = (duration - TimeSpan.FromMinutes(minutes)).TotalSeconds;
        var s = seconds.ToString("0.###", CultureInfo.InvariantCulture);
        return minutes > 0 ? $"{minutes}m{s}s" : $"{s}s";
    }

    // Compared as a double, before any TimeSpan is made of it: infinity and 1e20 s are past the longest wait, not an overflow.
    private static TimeSpan Bounded(double milliseconds) =>
        milliseconds < MaximumWait.TotalMilliseconds ? TimeSpan.FromMilliseconds(milliseconds) : MaximumWait;

    private static DateTimeOffset? Date(string? value) =>
        DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date) ? date : null;

    private static TimeSpan? Duration(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        var match = DurationPattern().Match(value);
        if (!match.Success || match.Length != value.Length)
        {
            return null;
        }

        double Part(string name) => match.Groups[name].Success ? double.Parse(match.Groups[name].Value, CultureInfo.InvariantCulture) : 0;
        return Bounded((Part("h") * 3_600_000) + (Part("m") * 60_000) + (Part("s") * 1000) + Part("ms"));
    }

    [GeneratedRegex(@"\b[Tt]ry again in (?<d>[0-9.hms]+?)\.?(?:\s|$)")]
    private static partial Regex TryAgainPattern();

    [GeneratedRegex(@"^(?:(?<h>\d+(?:\.\d+)?)h)?(?:(?<m>\d+(?:\.\d+)?)m(?!s))?(?:(?<s>\d+(?:\.\d+)?)s)?(?:(?<ms>\d+(?:\.\d+)?)ms)?$")]
    private static partial Regex DurationPattern();
}

using System.Globalization;
using System.Text.RegularExpressions;

namespace Orchestrator.Llm;

/// <summary>
/// Reads how long a 429 asks to wait, from the headers OpenAI sends: <c>retry-after-ms</c>
/// (milliseconds), <c>Retry-After</c> (seconds or an HTTP date), else the later of
/// <c>x-ratelimit-reset-requests</c> and <c>x-ratelimit-reset-tokens</c> (durations like <c>6m0s</c>, <c>20ms</c>).
/// </summary>
public static partial class RateLimitHeaders
{
    /// <summary>The wait the headers announce, or null when they announce none.</summary>
    /// <param name="header">Reads a header by name (case-insensitive), null when absent.</param>
    public static TimeSpan? RetryAfter(Func<string, string?> header, DateTimeOffset now)
    {
        if (header("retry-after-ms") is { } ms && double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out var millis) && millis >= 0)
        {
            return TimeSpan.FromMilliseconds(millis);
        }

        if (header("retry-after") is { } retryAfter)
        {
            if (double.TryParse(retryAfter, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
            {
                return TimeSpan.FromSeconds(seconds);
            }

            if (DateTimeOffset.TryParse(retryAfter, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var date))
            {
                return date > now ? date - now : TimeSpan.Zero;
            }
        }

        var requests = Duration(header("x-ratelimit-reset-requests"));
        var tokens = Duration(header("x-ratelimit-reset-tokens"));
        return requests is null && tokens is null ? null : TimeSpan.FromTicks(Math.Max(requests?.Ticks ?? 0, tokens?.Ticks ?? 0));
    }

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
        return TimeSpan.FromHours(Part("h")) + TimeSpan.FromMinutes(Part("m")) + TimeSpan.FromSeconds(Part("s")) + TimeSpan.FromMilliseconds(Part("ms"));
    }

    [GeneratedRegex(@"^(?:(?<h>\d+(?:\.\d+)?)h)?(?:(?<m>\d+(?:\.\d+)?)m(?!s))?(?:(?<s>\d+(?:\.\d+)?)s)?(?:(?<ms>\d+(?:\.\d+)?)ms)?$")]
    private static partial Regex DurationPattern();
}

using Microsoft.Net.Http.Headers;

namespace Orchestrator.Api.Jobs;

/// <summary>The Content-Type of a JSON request body: <c>application/json</c> or <c>application/*+json</c>, in UTF-8.</summary>
internal static class JsonContentType
{
    /// <summary>The title of every 415 problem: the endpoints' own and routing's (which would be "Unsupported Media Type").</summary>
    public const string RefusedTitle = "Unsupported media type";

    /// <summary>
    /// Whether <paramref name="contentType"/> is JSON with no charset or <c>utf-8</c> (quoted or not,
    /// any case: RFC 9110 §8.3.2 and §5.6.6); JSON between systems is UTF-8 (RFC 8259 §8.1).
    /// </summary>
    public static bool IsUtf8Json(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var media) || media.MediaType.Value is not { } type)
        {
            return false;
        }

        if (media.Charset.HasValue && !HeaderUtilities.RemoveQuotes(media.Charset).Equals("utf-8", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (type.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
    }
}

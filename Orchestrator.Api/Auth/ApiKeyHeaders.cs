using Microsoft.Net.Http.Headers;

namespace Orchestrator.Api.Auth;

/// <summary>Reads the API key from <c>Authorization: Bearer &lt;key&gt;</c> or <c>x-api-key</c> (same meaning).</summary>
internal static class ApiKeyHeaders
{
    public const string ApiKey = "x-api-key";
    public const string BearerScheme = "Bearer";

    /// <summary>Null key when neither header is sent; an error when the headers cannot be used.</summary>
    public static (string? Key, string? Error) Read(IHeaderDictionary headers)
    {
        var authorization = headers[HeaderNames.Authorization];
        var apiKey = headers[ApiKey];
        if (authorization.Count > 1 || apiKey.Count > 1)
        {
            return (null, "Send one API key, once.");
        }

        string? bearer = null;
        if (authorization.Count == 1)
        {
            var value = authorization[0] ?? "";
            if (value.Trim().Equals(BearerScheme, StringComparison.OrdinalIgnoreCase))
            {
                // "Bearer " with its space trimmed on the way: the right scheme, with no key.
                return (null, "The API key is empty.");
            }

            if (!value.StartsWith(BearerScheme + " ", StringComparison.OrdinalIgnoreCase))
            {
                return (null, $"The Authorization header must use the {BearerScheme} scheme: 'Authorization: {BearerScheme} <key>'.");
            }

            bearer = value[(BearerScheme.Length + 1)..].Trim();
        }

        var key = apiKey.Count == 1 ? apiKey[0] : null;
        if (bearer is not null && key is not null && !string.Equals(bearer, key, StringComparison.Ordinal))
        {
            return (null, $"'Authorization' and '{ApiKey}' carry different keys; send one.");
        }

        key ??= bearer;
        return key is { Length: 0 } ? (null, "The API key is empty.") : (key, null);
    }
}

namespace Orchestrator.Api.Jobs;

/// <summary>
/// Reads the idempotency key from <c>x-idempotency-key</c> or the standard <c>Idempotency-Key</c>
/// (same meaning): 1 to 255 printable ASCII characters.
/// </summary>
internal static class IdempotencyKeyHeader
{
    public const string Custom = "x-idempotency-key";
    public const string Standard = "Idempotency-Key";
    public const int MaxLength = 255;

    /// <summary>Null key when neither header is sent; an error message when the key is unusable.</summary>
    public static (string? Key, string? Error) Read(IHeaderDictionary headers)
    {
        var custom = headers[Custom];
        var standard = headers[Standard];
        if (custom.Count > 1 || standard.Count > 1)
        {
            return (null, "Send one idempotency key, once.");
        }

        string? key = custom.Count == 1 ? custom[0] : null;
        string? other = standard.Count == 1 ? standard[0] : null;
        if (key is not null && other is not null && !string.Equals(key, other, StringComparison.Ordinal))
        {
            return (null, $"'{Custom}' and '{Standard}' carry different keys; send one.");
        }

        key ??= other;
        if (key is null)
        {
            return (null, null);
        }

        if (key.Length is 0 or > MaxLength)
        {
            return (null, $"The idempotency key must be 1 to {MaxLength} characters long; it is {key.Length}.");
        }

        foreach (var c in key)
        {
            if (c is < ' ' or > '~')
            {
                return (null, "The idempotency key must contain only printable ASCII characters (0x20 to 0x7E).");
            }
        }

        return (key, null);
    }
}

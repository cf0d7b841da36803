using System.Security.Cryptography;
using System.Text;

namespace Orchestrator.Api.Auth;

/// <summary>A configured key, as the SHA-256 of its UTF-8 bytes: keys are compared by hash only.</summary>
internal static class ApiKeyEntry
{
    /// <summary>The prefix of an entry that is a hash, not the key.</summary>
    public const string HashPrefix = "sha256:";

    /// <summary>Shortest key accepted in configuration, in characters: a short key can be guessed.</summary>
    public const int MinKeyLength = 16;

    /// <summary>The SHA-256 of a presented or configured key.</summary>
    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>
    /// The hash a configuration entry stands for, or an error that describes the entry without
    /// repeating it (configuration errors are logged; the entry may be a secret).
    /// </summary>
    public static (byte[]? Hash, string? Error) Parse(string? entry)
    {
        if (string.IsNullOrWhiteSpace(entry))
        {
            return (null, "is empty");
        }

        if (entry.StartsWith(HashPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var hex = entry.AsSpan(HashPrefix.Length);
            if (hex.Length != SHA256.HashSizeInBytes * 2)
            {
                return (null, $"starts with '{HashPrefix}' but is not followed by {SHA256.HashSizeInBytes * 2} hex digits");
            }

            try
            {
                return (Convert.FromHexString(hex), null);
            }
            catch (FormatException)
            {
                return (null, $"starts with '{HashPrefix}' but is not followed by {SHA256.HashSizeInBytes * 2} hex digits");
            }
        }

        // A header's edge spaces are dropped and its other bytes read one character each (Latin-1),
        // while the key is hashed as UTF-8: such a key could never match; refused rather than locked out.
        if (char.IsWhiteSpace(entry[0]) || char.IsWhiteSpace(entry[^1]))
        {
            return (null, "starts or ends with a space, which HTTP drops from a header: no request could present it");
        }

        if (entry.Any(static c => c is < ' ' or > '~'))
        {
            return (null, "has a character outside printable ASCII, which a header does not carry as is: no request could present it");
        }

        return entry.Length < MinKeyLength
            ? (null, $"is shorter than {MinKeyLength} characters")
            : (Hash(entry), null);
    }
}

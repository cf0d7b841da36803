using System.Buffers.Text;
using System.Security.Cryptography;

namespace Orchestrator.Jobs;

/// <summary>
/// Job ids: 128 random bits in unpadded base64url (22 characters). Opaque, URL-safe and
/// unguessable, so knowing one job id tells nothing about another.
/// </summary>
public static class JobIds
{
    private const int Bytes = 16;
    private const int Length = 22;

    /// <summary>A new random job id.</summary>
    public static string New()
    {
        Span<byte> bytes = stackalloc byte[Bytes];
        RandomNumberGenerator.Fill(bytes);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>Whether <paramref name="value"/> has the shape of a job id (checked before touching Redis).</summary>
    public static bool IsWellFormed(string? value)
    {
        if (value is null || value.Length != Length)
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }
}

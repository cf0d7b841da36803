using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace Orchestrator.Api.Auth;

/// <summary>Who a presented API key belongs to: a tenant, or the admins (<see cref="Tenant"/> null).</summary>
internal sealed record ApiKeyOwner(string? Tenant)
{
    public bool IsAdmin => Tenant is null;
}

/// <summary>
/// Every configured key, by hash. A presented key is hashed and compared with every entry in
/// constant time (<see cref="CryptographicOperations.FixedTimeEquals"/>, no early exit), so the time
/// taken says nothing about which key, or how much of one, matched.
/// </summary>
internal sealed class ApiKeyRing
{
    private readonly (byte[] Hash, ApiKeyOwner Owner)[] _entries;

    public ApiKeyRing(IOptions<AuthOptions> options)
    {
        var auth = options.Value;
        var entries = new List<(byte[], ApiKeyOwner)>();
        var admin = new ApiKeyOwner(null);
        foreach (var entry in auth.AdminKeys)
        {
            entries.Add((ApiKeyEntry.Parse(entry).Hash!, admin));
        }

        foreach (var (tenant, tenantOptions) in auth.Tenants)
        {
            var owner = new ApiKeyOwner(tenant);
            foreach (var entry in tenantOptions.ApiKeys)
            {
                entries.Add((ApiKeyEntry.Parse(entry).Hash!, owner));
            }
        }

        _entries = [.. entries];
    }

    /// <summary>The owner of <paramref name="key"/>, or null when no configured key matches.</summary>
    public ApiKeyOwner? Find(string key)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key), hash);
        ApiKeyOwner? found = null;
        foreach (var (known, owner) in _entries)
        {
            if (CryptographicOperations.FixedTimeEquals(known, hash))
            {
                found = owner;
            }
        }

        return found;
    }
}

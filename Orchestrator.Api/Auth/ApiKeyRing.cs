using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace Orchestrator.Api.Auth;

/// <summary>Who a presented API key belongs to: a tenant, or the admins (<see cref="Tenant"/> null).</summary>
internal sealed record ApiKeyOwner(string? Tenant)
{
    public bool IsAdmin => Tenant is null;
}

/// <summary>
/// Every configured key, by its SHA-256. A presented key is hashed and looked up by that hash: a
/// comparison with every entry (constant time each) cost each request one comparison per configured
/// key, thousands with thousands of tenants. The lookup's timing depends only on the presented
/// key's hash, and learning which hash is stored from it would take a preimage of SHA-256, so it
/// says nothing usable about a key.
/// </summary>
internal sealed class ApiKeyRing
{
    private readonly FrozenDictionary<string, ApiKeyOwner> _owners;

    public ApiKeyRing(IOptions<AuthOptions> options)
    {
        var auth = options.Value;
        var owners = new Dictionary<string, ApiKeyOwner>(StringComparer.Ordinal);
        var admin = new ApiKeyOwner(null);
        foreach (var entry in auth.AdminKeys)
        {
            owners[Convert.ToHexString(ApiKeyEntry.Parse(entry).Hash!)] = admin;
        }

        // AuthOptionsValidator refuses a key configured for two owners, so none is overwritten here.
        foreach (var (tenant, tenantOptions) in auth.Tenants)
        {
            var owner = new ApiKeyOwner(tenant);
            foreach (var entry in tenantOptions.ApiKeys)
            {
                owners[Convert.ToHexString(ApiKeyEntry.Parse(entry).Hash!)] = owner;
            }
        }

        _owners = owners.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The owner of <paramref name="key"/>, or null when no configured key matches.</summary>
    public ApiKeyOwner? Find(string key)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key), hash);
        return _owners.GetValueOrDefault(Convert.ToHexString(hash));
    }
}

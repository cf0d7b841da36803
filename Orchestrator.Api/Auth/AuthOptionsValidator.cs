using Microsoft.Extensions.Options;
using Orchestrator.Jobs;

namespace Orchestrator.Api.Auth;

/// <summary>
/// Refuses to start on keys that cannot be used or that would make a caller ambiguous: a malformed
/// entry, a bad tenant name, one key configured for two tenants (or a tenant and the admins), or
/// keys for the tenant anonymous callers act as.
/// Messages name the tenant and the entry's position, never the key.
/// </summary>
internal sealed class AuthOptionsValidator : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions options)
    {
        var errors = new List<string>();
        // By hash, not a scan of every earlier key: pairwise FixedTimeEquals was O(keys²) at start
        // (~1 s at 3,000 tenants). Equality of two configured hashes is no secret worth constant time.
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);

        void Add(string path, string? entry, string owner)
        {
            var (hash, error) = ApiKeyEntry.Parse(entry);
            if (hash is null)
            {
                errors.Add($"{path} {error}.");
                return;
            }

            var hex = Convert.ToHexString(hash);
            if (!owners.TryAdd(hex, owner) && owners[hex] != owner)
            {
                errors.Add($"{path}: the same key is configured for {owners[hex]}; a key identifies one tenant (or an admin).");
            }
        }

        for (var i = 0; i < options.AdminKeys.Count; i++)
        {
            Add($"{AuthOptions.Section}:{nameof(AuthOptions.AdminKeys)}:{i}", options.AdminKeys[i], "the admins (Auth:AdminKeys)");
        }

        foreach (var (tenant, tenantOptions) in options.Tenants)
        {
            if (!TenantNames.IsValid(tenant))
            {
                errors.Add(TenantNames.InvalidInConfiguration(tenant));
                continue;
            }

            for (var i = 0; i < tenantOptions.ApiKeys.Count; i++)
            {
                Add($"{AuthOptions.TenantsSection}:{tenant}:{nameof(TenantOptions.ApiKeys)}:{i}", tenantOptions.ApiKeys[i], $"tenant '{tenant}'");
            }
        }

        // A caller without a key acts as tenant 'default': its keys would keep no one out of its jobs.
        if (options.AllowAnonymous && options.Tenants.TryGetValue(TenantNames.Default, out var anonymous) && anonymous.ApiKeys.Count > 0)
        {
            errors.Add($"{AuthOptions.TenantsSection}:{TenantNames.Default}:{nameof(TenantOptions.ApiKeys)} is set while {AuthOptions.Section}:{nameof(AuthOptions.AllowAnonymous)} is true: " +
                $"a caller without a key acts as tenant '{TenantNames.Default}', so its keys would protect nothing. Give the keyed tenant another name, or turn anonymous access off.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

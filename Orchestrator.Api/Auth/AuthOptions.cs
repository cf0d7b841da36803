using Orchestrator.Jobs;

namespace Orchestrator.Api.Auth;

/// <summary>
/// Who may call the API: admin keys and anonymous access from the <c>Auth</c> section, tenants and
/// their keys from the <c>Tenants</c> section (<c>Tenants:{tenant}:ApiKeys</c>). Validated at start
/// (<see cref="AuthOptionsValidator"/>).
/// </summary>
public sealed class AuthOptions
{
    /// <summary>The configuration section of <see cref="AllowAnonymous"/> and <see cref="AdminKeys"/>.</summary>
    public const string Section = "Auth";

    /// <summary>The configuration section of the tenants (<see cref="Tenants"/>).</summary>
    public const string TenantsSection = "Tenants";

    /// <summary>
    /// Whether a request without an API key is served, as tenant <c>default</c>. A request with a
    /// wrong key is refused either way. Default false.
    /// </summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>
    /// Keys that read every tenant's jobs and dead letters (they submit nothing: a job belongs to a
    /// tenant). Each entry is the key itself or <c>sha256:&lt;64 hex digits&gt;</c>, the SHA-256 of its
    /// UTF-8 bytes, so configuration need not hold the secret. Default none.
    /// </summary>
    public List<string> AdminKeys { get; set; } = [];

    /// <summary>
    /// The tenants by name (<see cref="TenantNames.Rule"/>), bound from <c>Tenants:{tenant}</c>.
    /// Default none.
    /// </summary>
    public Dictionary<string, TenantOptions> Tenants { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>One tenant, bound from <c>Tenants:{tenant}</c>.</summary>
public sealed class TenantOptions
{
    /// <summary>
    /// The tenant's API keys (several, so a key can be rotated without downtime). Each entry is the
    /// key itself (at least <see cref="ApiKeyEntry.MinKeyLength"/> characters) or
    /// <c>sha256:&lt;64 hex digits&gt;</c>. Default none.
    /// </summary>
    public List<string> ApiKeys { get; set; } = [];
}

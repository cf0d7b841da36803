namespace Orchestrator.Worker.Webhooks;

/// <summary>
/// The signers of each tenant's deliveries: its own secret's keys (<c>Webhooks:TenantSecrets:{tenant}</c>),
/// else <c>Webhooks:Secret</c>'s. A tenant verifies its deliveries with the secret they are signed
/// with, so with one secret for all, any tenant could sign a delivery every other tenant's receiver
/// accepts. A secret of several keys (a rotation) signs with each.
/// </summary>
internal sealed class WebhookSigners(IReadOnlyList<byte[]> keys, IReadOnlyDictionary<string, IReadOnlyList<byte[]>> tenantKeys)
{
    private readonly WebhookSigner? _default = keys.Count > 0 ? new(keys) : null;
    private readonly Dictionary<string, WebhookSigner> _tenants =
        tenantKeys.ToDictionary(t => t.Key, t => new WebhookSigner(t.Value), StringComparer.Ordinal);

    /// <summary>
    /// The signer of <paramref name="tenant"/>'s deliveries; null for a tenant without its own secret
    /// when <c>Webhooks:Secret</c> is not set (every tenant that gets webhooks has its own).
    /// </summary>
    public WebhookSigner? For(string tenant) => _tenants.GetValueOrDefault(tenant) ?? _default;
}

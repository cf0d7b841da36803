using StandardWebhooks;

namespace Orchestrator.Worker.Webhooks;

/// <summary>
/// The signer of each tenant's deliveries: its own secret (<c>Webhooks:TenantSecrets:{tenant}</c>), else
/// <c>Webhooks:Secret</c>. A tenant verifies its deliveries with the secret they are signed with, so
/// with one secret for all, any tenant could sign a delivery every other tenant's receiver accepts.
/// </summary>
internal sealed class WebhookSigners(byte[] secret, IReadOnlyDictionary<string, byte[]> tenantSecrets)
{
    private readonly StandardWebhook _default = new(secret);
    private readonly Dictionary<string, StandardWebhook> _tenants =
        tenantSecrets.ToDictionary(t => t.Key, t => new StandardWebhook(t.Value), StringComparer.Ordinal);

    /// <summary>The signer of <paramref name="tenant"/>'s deliveries.</summary>
    public StandardWebhook For(string tenant) => _tenants.GetValueOrDefault(tenant) ?? _default;
}

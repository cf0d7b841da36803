using StandardWebhooks;

namespace Orchestrator.Worker.Webhooks;

/// <summary>Signs with each key of one secret: the <c>webhook-signature</c> header's space-separated <c>v1,…</c> signatures, in the keys' order.</summary>
internal sealed class WebhookSigner(IReadOnlyList<byte[]> keys)
{
    private readonly StandardWebhook[] _keys = [.. keys.Select(key => new StandardWebhook(key))];

    /// <summary>The <c>webhook-signature</c> header of a delivery with this id, timestamp and body.</summary>
    public string Sign(string id, DateTimeOffset timestamp, string body) =>
        _keys.Length == 1 ? _keys[0].Sign(id, timestamp, body) : string.Join(' ', _keys.Select(key => key.Sign(id, timestamp, body)));
}

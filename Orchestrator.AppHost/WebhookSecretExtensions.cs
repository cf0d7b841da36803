namespace Orchestrator.AppHost;

/// <summary>The key workers sign webhooks with.</summary>
internal static class WebhookSecretExtensions
{
    /// <summary>
    /// Gives <paramref name="worker"/> <c>Webhooks:Secret</c> from the secret parameter
    /// <c>webhooks-secret</c>: generated once (32 letters and digits, which are base64 of 24 bytes)
    /// and kept in the AppHost's user secrets, so deliveries are signed in a local run and a receiver
    /// keeps the same key across runs. <c>Parameters:webhooks-secret</c> sets it (<c>whsec_…</c> or
    /// bare base64, 24 to 64 bytes). The API does not sign (it only queues deliveries) and gets no
    /// copy. The rest of the <c>Webhooks</c> section is handed to API and worker by the caller.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithWebhookSecret(this IResourceBuilder<ProjectResource> worker)
    {
        var secret = worker.ApplicationBuilder.AddParameter(
            "webhooks-secret", new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true);
        return worker.WithEnvironment("Webhooks__Secret", secret);
    }
}

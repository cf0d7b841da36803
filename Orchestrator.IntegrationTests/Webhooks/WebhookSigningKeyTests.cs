namespace Orchestrator.IntegrationTests.Webhooks;

/// <summary>
/// Signing keys, through one real worker (a process, real Redis, a receiver on loopback): a tenant
/// with its own secret (<c>Webhooks:TenantSecrets:{tenant}</c>) gets deliveries signed with it, and
/// not with the shared <c>Webhooks:Secret</c>, which still signs the other tenants' — so no tenant
/// holds a secret that signs another tenant's deliveries; and a secret of two keys, as while it is
/// rotated, signs each delivery with both.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class WebhookSigningKeyTests
{
    private const string AcmeSecret = "whsec_YWNtZS1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==";

    [Fact]
    public async Task ATenantsDeliveries_AreSignedWithItsOwnSecret_OthersWithTheSharedOne()
    {
        const string shared = WebhookSlowReceiverTests.Secret;

        var (acme, globex) = await DeliverAsync(shared);

        Assert.True(acme.IsSignedWith(AcmeSecret), $"acme's delivery is not signed with acme's secret: {acme.Signature}");
        Assert.False(acme.IsSignedWith(shared), "acme's delivery is signed with the shared secret too");
        Assert.True(globex.IsSignedWith(shared), $"globex's delivery is not signed with the shared secret: {globex.Signature}");
        Assert.False(globex.IsSignedWith(AcmeSecret), "globex's delivery is signed with acme's secret");
    }

    [Fact]
    public async Task ASecretOfTwoKeys_SignsEveryDeliveryWithBoth_SoReceiversMoveToTheNewKeyUnbroken()
    {
        const string newKey = "whsec_bmV3LWtleS0wMTIzNDU2Nzg5YWJjZGVmZ2hpams=";
        const string oldKey = WebhookSlowReceiverTests.Secret;

        var (acme, globex) = await DeliverAsync($"{newKey} {oldKey}");

        Assert.True(globex.IsSignedWith(newKey) && globex.IsSignedWith(oldKey), $"not signed with both keys: {globex.Signature}");
        Assert.Equal(2, globex.Signature.Split(' ').Length);
        // A tenant's own key is not rotated with the shared one.
        Assert.Equal((true, false, false), (acme.IsSignedWith(AcmeSecret), acme.IsSignedWith(newKey), acme.IsSignedWith(oldKey)));
    }

    /// <summary>
    /// Every tenant that gets webhooks may have its own secret: a worker without <c>Webhooks:Secret</c>
    /// sent none at all, acme's included. It now sends acme's, signed with acme's key, and records
    /// globex's tries as not sent, naming the setting missing.
    /// </summary>
    [Fact]
    public async Task WithoutASharedSecret_ATenantsOwnSecretSignsItsDeliveries_AnotherTenantsAreNotSent()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var harness = await WorkerHarness.StartAsync();
        var settings = WebhookSlowReceiverTests.Settings(TimeSpan.FromSeconds(5));
        settings.Remove("Webhooks:Secret");
        settings["Webhooks:TenantSecrets:acme"] = AcmeSecret;
        var worker = await harness.StartWorkerAsync(settings, "worker");

        var acmeJob = await WebhookSlowReceiverTests.SubmitAsync(harness, receiver.Address, "acme");
        var globexJob = await WebhookSlowReceiverTests.SubmitAsync(harness, receiver.Address, "globex");
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(receiver.Received.Count >= 1),
            TimeSpan.FromSeconds(30), "acme's delivery arrived", TimeSpan.FromMilliseconds(20));
        await AsyncWait.WaitUntilAsync(async () => (await harness.GetAsync(globexJob)).Webhooks is [{ Attempts: >= 1 }, ..],
            TimeSpan.FromSeconds(30), "globex's delivery was tried", TimeSpan.FromMilliseconds(50));

        var acme = Assert.Single(receiver.Received);
        Assert.Equal($"{acmeJob}.1", acme.Id);
        Assert.True(acme.IsSignedWith(AcmeSecret), $"acme's delivery is not signed with acme's secret: {acme.Signature}");
        var globex = Assert.Single((await harness.GetAsync(globexJob)).Webhooks);
        Assert.Equal("pending", globex.Status);
        Assert.Contains("not sent: tenant 'globex' has no signing secret", globex.LastError, StringComparison.Ordinal);
        Assert.Contains("signs only the deliveries of tenants with their own secret (acme)", worker.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// One worker signing with <paramref name="secret"/> (<c>Webhooks:Secret</c>) and acme's own key: a job
    /// of acme's and one of globex's, each calling back a receiver on loopback; their deliveries as it got them.
    /// </summary>
    private static async Task<(ReceivedWebhook Acme, ReceivedWebhook Globex)> DeliverAsync(string secret)
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var harness = await WorkerHarness.StartAsync();
        var settings = WebhookSlowReceiverTests.Settings(TimeSpan.FromSeconds(5));
        settings["Webhooks:Secret"] = secret;
        settings["Webhooks:TenantSecrets:acme"] = AcmeSecret;
        await harness.StartWorkerAsync(settings, "worker");

        var acmeJob = await WebhookSlowReceiverTests.SubmitAsync(harness, receiver.Address, "acme");
        var globexJob = await WebhookSlowReceiverTests.SubmitAsync(harness, receiver.Address, "globex");
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(receiver.Received.Count >= 2),
            TimeSpan.FromSeconds(30), "both deliveries arrived", TimeSpan.FromMilliseconds(20));

        return (Assert.Single(receiver.Received, r => r.Id == $"{acmeJob}.1"), Assert.Single(receiver.Received, r => r.Id == $"{globexJob}.1"));
    }
}

using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Webhooks;

/// <summary>
/// Signing keys, through one real worker (a process, real Redis, a receiver
/// on loopback): a tenant with its own secret gets deliveries signed with it, and not with the
/// shared <c>Webhooks:Secret</c>, which still signs the other tenants' — so no tenant holds a
/// secret that signs another tenant's deliveries (<c>Webhooks:TenantSecrets:{tenant}</c>); and a
/// secret of two keys, as while it is rotated, signs each delivery with both.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class WebhookSigningKeyTests
{
    private const string AcmeSecret = "whsec_YWNtZS1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==";

    [Fact]
    public async Task ATenantsDeliveries_AreSignedWithItsOwnSecret_OthersWithTheSharedOne()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var harness = await WorkerHarness.StartAsync();
        var settings = WebhookSlowReceiverTests.Settings(TimeSpan.FromSeconds(5));
        settings["Webhooks:TenantSecrets:acme"] = AcmeSecret;
        await harness.StartWorkerAsync(settings, "worker");

        var acmeJob = await WebhookSlowReceiverTests.SubmitAsync(harness, receiver.Address, "acme");
        var otherJob = await WebhookSlowReceiverTests.SubmitAsync(harness, receiver.Address, "globex");
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(receiver.Received.Count >= 2),
            TimeSpan.FromSeconds(30), "both deliveries arrived", TimeSpan.FromMilliseconds(20));

        const string shared = WebhookSlowReceiverTests.Secret;
        var acme = Assert.Single(receiver.Received, r => r.Id == $"{acmeJob}.1");
        Assert.True(acme.IsSignedWith(AcmeSecret), $"acme's delivery is not signed with acme's secret: {acme.Signature}");
        Assert.False(acme.IsSignedWith(shared), "acme's delivery is signed with the shared secret too");
        var other = Assert.Single(receiver.Received, r => r.Id == $"{otherJob}.1");
        Assert.True(other.IsSignedWith(shared), $"globex's delivery is not signed with the shared secret: {other.Signature}");
        Assert.False(other.IsSignedWith(AcmeSecret), "globex's delivery is signed with acme's secret");
    }

    [Fact]
    public async Task ASecretOfTwoKeys_SignsEveryDeliveryWithBoth_SoReceiversMoveToTheNewKeyUnbroken()
    {
        const string newKey = "whsec_bmV3LWtleS0wMTIzNDU2Nzg5YWJjZGVmZ2hpams=";
        const string oldKey = WebhookSlowReceiverTests.Secret;
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var harness = await WorkerHarness.StartAsync();
        var settings = WebhookSlowReceiverTests.Settings(TimeSpan.FromSeconds(5));
        settings["Webhooks:Secret"] = $"{newKey} {oldKey}";
        settings["Webhooks:TenantSecrets:acme"] = AcmeSecret;
        await harness.StartWorkerAsync(settings, "worker");

        var jobId = await WebhookSlowReceiverTests.SubmitAsync(harness, receiver.Address, "globex");
        var acmeJob = await WebhookSlowReceiverTests.SubmitAsync(harness, receiver.Address, "acme");
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(receiver.Received.Count >= 2),
            TimeSpan.FromSeconds(30), "both deliveries arrived", TimeSpan.FromMilliseconds(20));

        var delivery = Assert.Single(receiver.Received, r => r.Id == $"{jobId}.1");
        Assert.True(delivery.IsSignedWith(newKey) && delivery.IsSignedWith(oldKey), $"not signed with both keys: {delivery.Signature}");
        Assert.Equal(2, delivery.Signature.Split(' ').Length);
        // A tenant's own key is not rotated with the shared one.
        var acme = Assert.Single(receiver.Received, r => r.Id == $"{acmeJob}.1");
        Assert.Equal((true, false, false), (acme.IsSignedWith(AcmeSecret), acme.IsSignedWith(newKey), acme.IsSignedWith(oldKey)));
    }
}

using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Webhooks;

/// <summary>
/// A worker stopped gracefully (<c>SIGTERM</c>) mid-send hands the delivery back, due at once, with no
/// try counted: another worker sends it again, with the same id, without waiting out its lease. Left
/// leased, it waited <c>Webhooks:LeaseTimeout</c> (60 s by default) after every rolling restart (an
/// outside audit: re-sent 10.9 s after the stop, its lease being 10 s).
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class WebhookHandBackTests
{
    private static readonly TimeSpan LeaseTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task WorkerStoppedMidSend_HandsTheDeliveryBack_AnotherWorkerSendsItAtOnce_SameIdNoTryCounted()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Hang = true;
        await using var harness = await WorkerHarness.StartAsync();
        var settings = WebhookSlowReceiverTests.Settings(TimeSpan.FromSeconds(20));
        settings["Webhooks:LeaseTimeout"] = LeaseTimeout.ToString("c", System.Globalization.CultureInfo.InvariantCulture);
        var first = await harness.StartWorkerAsync(settings, "first");

        var jobId = await WebhookSlowReceiverTests.SubmitAsync(harness, receiver.Address);
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(receiver.Received.Count == 1),
            TimeSpan.FromSeconds(30), "the receiver has the first try in hand", TimeSpan.FromMilliseconds(20));
        await first.StopGracefullyAsync(TimeSpan.FromSeconds(30));
        receiver.Hang = false;

        var delivery = Assert.Single((await harness.GetAsync(jobId)).Webhooks);
        Assert.Equal(("pending", 0), (delivery.Status, delivery.Attempts));
        var restarted = DateTimeOffset.UtcNow;
        await harness.StartWorkerAsync(settings, "second");
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(receiver.Received.Count == 2),
            LeaseTimeout, "the second worker sent the delivery", TimeSpan.FromMilliseconds(20));

        var again = receiver.Received[1];
        TestContext.Current.TestOutputHelper?.WriteLine($"sent again {(again.At - restarted).TotalMilliseconds:F0} ms after the second worker started");
        Assert.Equal(receiver.Received[0].Id, again.Id);
        Assert.Equal(200, again.AnsweredStatus);
        Assert.True(again.At - restarted < LeaseTimeout / 2, $"sent again {again.At - restarted} after the second worker started: the lease was waited out");
        await AsyncWait.WaitUntilAsync(async () => (await harness.GetAsync(jobId)).Webhooks.Single() is { Status: "delivered", Attempts: 1 },
            TimeSpan.FromSeconds(30), "delivered on its one counted try", TimeSpan.FromMilliseconds(50));
    }
}

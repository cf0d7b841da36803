using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Webhooks;

/// <summary>
/// A receiver that never answers, beside one that answers at once, sent to by one real worker
/// (a process, real Redis, receivers on loopback): the slow one holds one delivery slot until
/// <c>Webhooks:RequestTimeout</c>, and the other receiver's delivery goes out meanwhile.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class WebhookSlowReceiverTests
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(6);

    [Fact]
    public async Task HangingReceiver_DoesNotHoldUpAnotherReceiversDelivery()
    {
        await using var hanging = await WebhookReceiver.StartAsync();
        hanging.Hang = true;
        await using var answering = await WebhookReceiver.StartAsync();
        await using var harness = await WorkerHarness.StartAsync();
        await harness.StartWorkerAsync(Settings(RequestTimeout), "worker");

        await SubmitAsync(harness, hanging.Address);
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(hanging.Received.Count == 1),
            TimeSpan.FromSeconds(30), "the hanging receiver got its request", TimeSpan.FromMilliseconds(20));

        // The hanging try is in flight for RequestTimeout from now; the other job's delivery must not wait for it.
        var submitted = DateTimeOffset.UtcNow;
        await SubmitAsync(harness, answering.Address);
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(answering.Received.Count == 1),
            TimeSpan.FromSeconds(30), "the answering receiver got its delivery", TimeSpan.FromMilliseconds(20));

        var waited = answering.Received[0].At - submitted;
        Assert.True(waited < RequestTimeout / 2,
            $"delivered {waited.TotalMilliseconds:F0} ms after its job was submitted, while another receiver hung (RequestTimeout {RequestTimeout})");
        Assert.Equal(200, answering.Received[0].AnsweredStatus);
    }

    internal static Dictionary<string, string> Settings(TimeSpan requestTimeout) => new()
    {
        ["Simulator:FailureRate"] = "0",
        ["Simulator:Latency"] = "00:00:00.010",
        ["Webhooks:Secret"] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=",
        ["Webhooks:AllowPrivateNetworks"] = "true",
        ["Webhooks:BaseDelay"] = "00:00:01",
        ["Webhooks:MaxDelay"] = "00:00:04",
        ["Webhooks:RequestTimeout"] = requestTimeout.ToString("c", System.Globalization.CultureInfo.InvariantCulture),
        ["Webhooks:LeaseTimeout"] = "00:00:30",
        ["Webhooks:PollInterval"] = "00:00:00.100",
    };

    internal static async Task<string> SubmitAsync(WorkerHarness harness, Uri callbackUrl)
    {
        var job = WorkerHarness.NewJob("Say hello.", maxAttempts: 1);
        job = job with { Request = job.Request with { CallbackUrl = callbackUrl.ToString() } };
        Assert.Equal(SubmitOutcome.Created, (await harness.Store.SubmitAsync(job, idempotency: null).Bounded()).Outcome);
        return job.Id;
    }
}

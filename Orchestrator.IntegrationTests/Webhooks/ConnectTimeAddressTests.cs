using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Webhooks;

/// <summary>
/// The worker's own SSRF check, at connect time: a delivery whose host leads to a loopback address
/// when it is sent (as after DNS rebinding: the name was public when the API checked it) gets no
/// connection. The job is written through the store, past the API's check, as a rebinding name
/// would pass it; a real worker with <c>Webhooks:AllowPrivateNetworks</c> off sends it.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class ConnectTimeAddressTests
{
    [Fact]
    public async Task Delivery_ToLoopbackAtSendTime_WithoutAllowPrivateNetworks_IsNeverConnected()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var harness = await WorkerHarness.StartAsync();
        await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
            ["Webhooks:Secret"] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=",
            ["Webhooks:BaseDelay"] = "00:00:00.500",
            ["Webhooks:MaxDelay"] = "00:00:01",
            ["Webhooks:PollInterval"] = "00:00:00.100",
        }, "worker");
        // Both a literal loopback address and a name that resolves to one.
        var urls = new[] { receiver.Address, new UriBuilder(receiver.Address) { Host = "localhost" }.Uri };
        var jobIds = new List<string>();
        foreach (var url in urls)
        {
            var job = WorkerHarness.NewJob("Say hello.", maxAttempts: 1);
            job = job with { Request = job.Request with { CallbackUrl = url.ToString() } };
            Assert.Equal(SubmitOutcome.Created, (await harness.Store.SubmitAsync(job, idempotency: null).Bounded()).Outcome);
            jobIds.Add(job.Id);
        }

        IReadOnlyList<Job> jobs = [];
        await AsyncWait.WaitUntilAsync(async () =>
        {
            jobs = await harness.GetAllAsync(jobIds);
            return jobs.All(j => j.Webhooks is [{ Attempts: >= 3 }]);
        }, TimeSpan.FromSeconds(60), "each delivery tried three times", TimeSpan.FromMilliseconds(200));

        Assert.Empty(receiver.Received);
        Assert.All(jobs, job =>
        {
            var delivery = Assert.Single(job.Webhooks);
            Assert.Equal("pending", delivery.Status);
            Assert.All(delivery.Tries, t => Assert.Equal(0, t.StatusCode));
            Assert.Contains("not a public address", delivery.LastError, StringComparison.Ordinal);
        });
    }
}

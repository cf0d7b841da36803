using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Orchestrator.IntegrationTests.Webhooks;

/// <summary>
/// Issue 19's webhooks across real processes: a real API, real workers, a real Redis and a
/// receiver on loopback that answers 500 for two minutes, then 200. Each final transition is
/// delivered exactly once with a valid Standard Webhooks signature and one <c>webhook-id</c> on
/// every try, although the API and a worker are restarted (the worker killed) while it fails.
/// Its own collection: the test takes over two minutes and must not hold up the others.
/// </summary>
[Collection(WebhookCollection.Name)]
public sealed class WebhookDeliveryTests
{
    // Standard Webhooks' secret form: whsec_ + base64 of the key bytes (here 32).
    private const string Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=";
    private static readonly TimeSpan FailingFor = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task ReceiverFailingForTwoMinutes_GetsOneSignedDeliveryPerFinalTransition_AcrossApiAndWorkerRestarts()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.FailUntil = DateTimeOffset.UtcNow + FailingFor;
        await using var harness = await WorkerHarness.StartAsync();
        var apiSettings = new Dictionary<string, string>(TenantApiFactory.AuthSettings) { ["Webhooks:AllowPrivateNetworks"] = "true" };
        var workerSettings = new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
            ["Webhooks:Secret"] = Secret,
            ["Webhooks:AllowPrivateNetworks"] = "true",
            ["Webhooks:BaseDelay"] = "00:00:01",
            ["Webhooks:MaxDelay"] = "00:00:05",
            ["Webhooks:RequestTimeout"] = "00:00:05",
            ["Webhooks:LeaseTimeout"] = "00:00:10",
            ["Webhooks:PollInterval"] = "00:00:00.200",
        };
        var api = await ApiProcess.StartAsync(harness.Redis.ConnectionString, apiSettings, "api-1");
        try
        {
            var worker = await harness.StartWorkerAsync(workerSettings, "worker-1");
            string completed, failed;
            using (var client = api.CreateClient(TenantApiFactory.KeyA))
            {
                completed = await SubmitAsync(client, receiver.Address, permanentFailure: false);
                failed = await SubmitAsync(client, receiver.Address, permanentFailure: true);
                using var job = await client.GetAsync($"/jobs/{completed}", ct);
                Assert.Equal(receiver.Address.ToString(), (await job.Content.ReadFromJsonAsync<JsonObject>(ct))!["callbackUrl"]!.GetValue<string>());
            }

            // Both final transitions are being retried (two refused tries each): restart the API,
            // and kill the worker (SIGKILL: nothing handed back) for another to take over.
            await AsyncWait.WaitUntilAsync(
                () => Task.FromResult(receiver.Received.GroupBy(r => r.Id).Count(g => g.Count() >= 2) == 2),
                TimeSpan.FromSeconds(60), "both deliveries tried twice", TimeSpan.FromMilliseconds(100));
            await api.DisposeAsync();
            api = await ApiProcess.StartAsync(harness.Redis.ConnectionString, apiSettings, "api-2");
            await worker.KillAsync();
            await harness.StartWorkerAsync(workerSettings, "worker-2");

            using var after = api.CreateClient(TenantApiFactory.KeyA);
            var deliveries = new Dictionary<string, JsonNode>(StringComparer.Ordinal);
            var jobs = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
            await AsyncWait.WaitUntilAsync(async () =>
            {
                foreach (var jobId in new[] { completed, failed })
                {
                    using var response = await after.GetAsync($"/jobs/{jobId}", ct);
                    var job = (await response.Content.ReadFromJsonAsync<JsonObject>(ct))!;
                    deliveries[jobId] = Assert.Single(job["webhooks"]!.AsArray())!;
                    jobs[jobId] = job;
                }

                return deliveries.Values.All(d => d["status"]!.GetValue<string>() == "delivered");
            }, FailingFor + TimeSpan.FromSeconds(90), "both deliveries delivered", TimeSpan.FromMilliseconds(500));

            var received = receiver.Received;
            foreach (var (jobId, type) in new[] { (completed, "job.completed"), (failed, "job.failed") })
            {
                var delivery = deliveries[jobId];
                var id = delivery["id"]!.GetValue<string>();
                Assert.Equal(type, delivery["type"]!.GetValue<string>());
                var tries = received.Where(r => r.Id == id).ToList();
                // Exactly one try accepted, the last, after the two minutes of 500s; every try one id.
                Assert.Single(tries, r => r.AnsweredStatus == 200);
                Assert.Equal(200, tries[^1].AnsweredStatus);
                Assert.True(tries[^1].At >= receiver.FailUntil, "accepted only once the receiver answered 200");
                Assert.True(tries.Count >= 4, $"retried while refused: {tries.Count} tries");
                // Every try, signed with the secret (checked here by hand, not with the library the
                // worker uses), carries the same body, naming the job and its final status.
                Assert.All(tries, r => Assert.True(r.IsSignedWith(Secret), $"bad signature on try at {r.At:O}: {r.Signature}"));
                Assert.Single(tries.Select(r => r.Body).Distinct(StringComparer.Ordinal));
                var body = JsonNode.Parse(tries[0].Body)!;
                Assert.Equal(type, body["type"]!.GetValue<string>());
                Assert.Equal(jobId, body["data"]!["jobId"]!.GetValue<string>());
                Assert.Equal(type["job.".Length..], body["data"]!["status"]!.GetValue<string>());
                // Its times are the job's, to the character (fixed-width milliseconds, as the API writes them).
                var completedAt = jobs[jobId]["completedAt"]!.GetValue<string>();
                Assert.Equal(completedAt, body["timestamp"]!.GetValue<string>());
                Assert.Equal(completedAt, body["data"]!["completedAt"]!.GetValue<string>());
                // The job's history shows the tries: those sent at most those received (a try cut short
                // by the kill is not recorded), the others not sent while the receiver's circuit was open
                // (Webhooks:CircuitFailures), the last one the 200.
                var attempts = delivery["attempts"]!.GetValue<int>();
                var recorded = delivery["tries"]!.AsArray().Select(t => t!["error"]?.GetValue<string>()).ToList();
                Assert.Equal(Math.Min(attempts, 20), recorded.Count);
                Assert.InRange(recorded.Count(e => e?.StartsWith("not sent", StringComparison.Ordinal) != true), 2, tries.Count);
                Assert.Equal(200, delivery["lastStatusCode"]!.GetValue<int>());
                Assert.Equal(500, delivery["tries"]!.AsArray()[0]!["statusCode"]!.GetValue<int>());
            }

            // One id per final transition, no other: nothing was sent under a second id.
            Assert.Equal(2, received.Select(r => r.Id).Distinct(StringComparer.Ordinal).Count());
            Assert.Equal(0, await harness.Db.SortedSetLengthAsync(harness.Keys.WebhookOutbox));
        }
        finally
        {
            await api.DisposeAsync();
        }
    }

    private static async Task<string> SubmitAsync(HttpClient client, Uri callbackUrl, bool permanentFailure)
    {
        var metadata = permanentFailure ? new Dictionary<string, string> { ["simulator.permanentFailure"] = "true" } : null;
        using var response = await client.PostAsJsonAsync("/jobs", new { prompt = "Say hello.", callbackUrl, metadata }, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, body);
        return JsonNode.Parse(body)!["jobId"]!.GetValue<string>();
    }
}

/// <summary>The webhook tests: long (minutes of retries), so apart from the other collections.</summary>
[CollectionDefinition(Name)]
public sealed class WebhookCollection
{
    public const string Name = "webhooks";
}

using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// Issue 16's "what it must show" 1 across real processes: a real API process with keys required,
/// a real worker process that dead-letters the jobs, a real Redis. No key or a wrong key → 401;
/// tenant B reading A's job → 404 as for an unknown id; the same idempotency key from A and B → two
/// jobs; A's dead letters invisible to B, all visible to an admin key.
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class TenantsAcrossProcessesTests
{
    [Fact]
    public async Task TwoTenantsAndAnAdmin_OverARealApiAndWorker_AreKeptApart()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var api = await ApiProcess.StartAsync(harness.Redis.ConnectionString, TenantApiFactory.AuthSettings);
        await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
        }, "worker");
        using var anonymous = api.CreateClient(key: null);
        using var wrong = api.CreateClient("not-a-configured-key-0123456789");
        using var a = api.CreateClient(TenantApiFactory.KeyA);
        using var b = api.CreateClient(TenantApiFactory.KeyB);
        using var admin = api.CreateClient(TenantApiFactory.AdminKey);

        // No key, wrong key: 401 with the Bearer challenge.
        foreach (var client in new[] { anonymous, wrong })
        {
            using var refused = await PostAsync(client, "a job", idempotencyKey: null);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("Bearer", Assert.Single(refused.Headers.WwwAuthenticate).Scheme);
        }

        // The same idempotency key from A and B: two jobs. Both fail for good (dead letters).
        var jobA = await SubmitAsync(a, "shared-key");
        var jobB = await SubmitAsync(b, "shared-key");
        Assert.NotEqual(jobA, jobB);
        Assert.Equal(jobA, await SubmitAsync(a, "shared-key"));
        await harness.WaitUntilAllFinalAsync([jobA, jobB], TimeSpan.FromSeconds(60));

        // B reading A's job: the 404 of an unknown id.
        using var theirs = await GetAsync(b, $"/jobs/{jobA}");
        using var unknown = await GetAsync(b, $"/jobs/{Orchestrator.Jobs.JobIds.New()}");
        Assert.Equal(HttpStatusCode.NotFound, theirs.StatusCode);
        Assert.Equal(await WithoutTraceIdAsync(unknown), await WithoutTraceIdAsync(theirs));

        // Dead letters: each tenant its own, the admin all of them or one tenant's.
        Assert.Equal([jobA], await DeadLettersAsync(a, "/dead-letters"));
        Assert.Equal([jobB], await DeadLettersAsync(b, "/dead-letters"));
        Assert.Equal(new[] { jobA, jobB }.Order(), (await DeadLettersAsync(admin, "/dead-letters")).Order());
        Assert.Equal([jobA], await DeadLettersAsync(admin, $"/dead-letters?tenant={TenantApiFactory.TenantA}"));
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string prompt, string? idempotencyKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/jobs")
        {
            Content = new StringContent(
                JsonSerializer.Serialize(new { prompt, metadata = new Dictionary<string, string> { ["simulator.permanentFailure"] = "true" } }),
                Encoding.UTF8, "application/json"),
        };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        return await client.SendAsync(request, TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
    }

    private static async Task<string> SubmitAsync(HttpClient client, string idempotencyKey)
    {
        using var response = await PostAsync(client, "fail me for good", idempotencyKey);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        using var json = JsonDocument.Parse(body);
        return json.RootElement.GetProperty("jobId").GetString()!;
    }

    private static Task<HttpResponseMessage> GetAsync(HttpClient client, string path) =>
        client.GetAsync(path, TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

    private static async Task<List<string>> DeadLettersAsync(HttpClient client, string path)
    {
        using var response = await GetAsync(client, path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var page = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        return [.. page.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("jobId").GetString()!)];
    }

    private static async Task<string> WithoutTraceIdAsync(HttpResponseMessage response)
    {
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!.AsObject();
        body.Remove("traceId");
        return body.ToJsonString();
    }
}

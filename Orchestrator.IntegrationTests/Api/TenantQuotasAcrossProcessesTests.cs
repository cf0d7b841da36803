using System.Net;
using System.Text;
using System.Text.Json;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// Issue 16's submission quotas, enforced for the fleet: two real API processes on one real Redis
/// share each tenant's <c>MaxQueuedJobs</c> and <c>RequestsPerMinute</c> (checked inside
/// <c>submit.lua</c>), so together they accept exactly the quota; the rest are 429
/// <c>quota-exceeded</c> naming the quota, with <c>Retry-After</c>. A real worker then finishes the
/// jobs and the backlog counter comes back to zero, one decrement per job.
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class TenantQuotasAcrossProcessesTests
{
    private const string TenantA = TenantApiFactory.TenantA;
    private const string TenantB = TenantApiFactory.TenantB;
    private const int MaxQueuedJobs = 100;
    private const int RequestsPerMinute = 20;

    private static Dictionary<string, string> Settings() => new(TenantApiFactory.AuthSettings)
    {
        [$"Tenants:{TenantA}:MaxQueuedJobs"] = MaxQueuedJobs.ToString(System.Globalization.CultureInfo.InvariantCulture),
        [$"Tenants:{TenantB}:RequestsPerMinute"] = RequestsPerMinute.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    [Fact]
    public async Task MaxQueuedJobs100_150ConcurrentSubmitsOverTwoApis_Exactly100Accepted_50RefusedWithRetryAfter_CounterBackToZero()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var api1 = await ApiProcess.StartAsync(harness.Redis.ConnectionString, Settings(), "api-1");
        await using var api2 = await ApiProcess.StartAsync(harness.Redis.ConnectionString, Settings(), "api-2");
        using var a1 = api1.CreateClient(TenantApiFactory.KeyA);
        using var a2 = api2.CreateClient(TenantApiFactory.KeyA);
        var run = Guid.NewGuid().ToString("N");

        var responses = await Task.WhenAll(Enumerable.Range(0, 150).Select(i => PostAsync(i % 2 == 0 ? a1 : a2, $"job {i}", $"{run}-{i}")));
        var accepted = new List<(int Index, string JobId)>();
        var refused = 0;
        for (var i = 0; i < responses.Length; i++)
        {
            using var response = responses[i];
            var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            using var json = JsonDocument.Parse(body);
            if (response.StatusCode == HttpStatusCode.Accepted)
            {
                accepted.Add((i, json.RootElement.GetProperty("jobId").GetString()!));
                continue;
            }

            Assert.True(response.StatusCode == HttpStatusCode.TooManyRequests, $"{(int)response.StatusCode}: {body}");
            Assert.EndsWith("quota-exceeded", json.RootElement.GetProperty("type").GetString(), StringComparison.Ordinal);
            Assert.Equal("MaxQueuedJobs", json.RootElement.GetProperty("quota").GetString());
            Assert.Equal(MaxQueuedJobs, json.RootElement.GetProperty("limit").GetInt32());
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            // Nothing finished yet: the documented estimate while no final transition is known, 5 s.
            Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter?.Delta);
            refused++;
        }

        Assert.Equal(MaxQueuedJobs, accepted.Count);
        Assert.Equal(50, refused);
        Assert.Equal(MaxQueuedJobs, await BacklogAsync(harness, TenantA));
        // Both APIs took part, and the other tenant is not held back by A's quota.
        Assert.Contains(accepted, a => a.Index % 2 == 0);
        Assert.Contains(accepted, a => a.Index % 2 == 1);
        using var b = api2.CreateClient(TenantApiFactory.KeyB);
        using (var other = await PostAsync(b, "B is not A", idempotencyKey: null))
        {
            Assert.Equal(HttpStatusCode.Accepted, other.StatusCode);
        }

        // Over the quota, a replay of an accepted key is answered as usual.
        var first = accepted[0];
        using (var replay = await PostAsync(a2, $"job {first.Index}", $"{run}-{first.Index}"))
        {
            Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
            Assert.Equal(["true"], replay.Headers.GetValues("Idempotent-Replayed"));
        }

        // A real worker finishes them: each final transition takes its job off the backlog, once.
        await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.005",
        }, "worker");
        await harness.WaitUntilAllFinalAsync([.. accepted.Select(a => a.JobId)], TimeSpan.FromSeconds(120));
        Assert.Equal(0, await BacklogAsync(harness, TenantA));
        Assert.All(await harness.GetAllAsync([.. accepted.Select(a => a.JobId)]), j => Assert.Null(
            (string?)harness.Db.HashGet(harness.Keys.Job(j.Id), "quotaQueued")));

        // Room again, and the Retry-After estimate now comes from the tenant's final transitions.
        using (var next = await PostAsync(a1, "after the backlog", idempotencyKey: null))
        {
            Assert.Equal(HttpStatusCode.Accepted, next.StatusCode);
        }

        var interval = (long)await harness.Db.HashGetAsync(harness.Keys.TenantBacklog(TenantA), "finalEveryMs");
        Assert.InRange(interval, 1, 60_000);
    }

    [Fact]
    public async Task RequestsPerMinute20_30ConcurrentSubmitsOverTwoApis_Exactly20Accepted_RestRefusedUntilTheGcraAllows()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var api1 = await ApiProcess.StartAsync(harness.Redis.ConnectionString, Settings(), "api-1");
        await using var api2 = await ApiProcess.StartAsync(harness.Redis.ConnectionString, Settings(), "api-2");
        using var b1 = api1.CreateClient(TenantApiFactory.KeyB);
        using var b2 = api2.CreateClient(TenantApiFactory.KeyB);

        var sinceBurst = System.Diagnostics.Stopwatch.StartNew();
        var responses = await Task.WhenAll(Enumerable.Range(0, 30).Select(i => PostAsync(i % 2 == 0 ? b1 : b2, $"job {i}", idempotencyKey: null)));
        var accepted = 0;
        var retryAfters = new List<TimeSpan>();
        foreach (var response in responses)
        {
            using (response)
            {
                if (response.StatusCode == HttpStatusCode.Accepted)
                {
                    accepted++;
                    continue;
                }

                var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
                Assert.True(response.StatusCode == HttpStatusCode.TooManyRequests, $"{(int)response.StatusCode}: {body}");
                using var json = JsonDocument.Parse(body);
                Assert.EndsWith("quota-exceeded", json.RootElement.GetProperty("type").GetString(), StringComparison.Ordinal);
                Assert.Equal("RequestsPerMinute", json.RootElement.GetProperty("quota").GetString());
                retryAfters.Add(response.Headers.RetryAfter?.Delta ?? throw new Xunit.Sdk.XunitException("429 without Retry-After"));
            }
        }

        // A burst of one minute's worth, then one every 60 s / 20 = 3 s: the GCRA's wait, in whole seconds.
        Assert.Equal(RequestsPerMinute, accepted);
        Assert.Equal(10, retryAfters.Count);
        Assert.All(retryAfters, r => Assert.InRange(r, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3)));
        // Tenant A has no rate quota: not limited by B's.
        using var a = api1.CreateClient(TenantApiFactory.KeyA);
        using (var other = await PostAsync(a, "A is not B", idempotencyKey: null))
        {
            Assert.Equal(HttpStatusCode.Accepted, other.StatusCode);
        }

        // Within the announced wait the next submission passes (refusals spend nothing), and only one:
        // the rate, not a new burst.
        await AsyncWait.WaitUntilAsync(async () =>
        {
            using var later = await PostAsync(b2, "after Retry-After", idempotencyKey: null);
            return later.StatusCode == HttpStatusCode.Accepted;
        }, retryAfters.Max() + TimeSpan.FromSeconds(2), "a submission passes once the Retry-After has passed", TimeSpan.FromMilliseconds(100));
        // The 21st may pass no sooner than one interval (3 s) after the first of the burst reached Redis.
        Assert.True(sinceBurst.Elapsed >= TimeSpan.FromSeconds(2.9), $"accepted {sinceBurst.Elapsed} after the burst began, before the GCRA's interval");

        using var again = await PostAsync(b1, "right after", idempotencyKey: null);
        Assert.Equal(HttpStatusCode.TooManyRequests, again.StatusCode);
    }

    private static async Task<long> BacklogAsync(WorkerHarness harness, string tenant) =>
        (long)await harness.Db.HashGetAsync(harness.Keys.TenantBacklog(tenant), "jobs").WaitAsync(WorkerHarness.CommandTimeout, TestContext.Current.CancellationToken);

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string prompt, string? idempotencyKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/jobs")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { prompt }), Encoding.UTF8, "application/json"),
        };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        return client.SendAsync(request, TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
    }
}

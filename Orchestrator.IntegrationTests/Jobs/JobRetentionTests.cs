using System.Net;
using System.Text.Json;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// What Redis keeps and for how long: a job lives until it is final, then for Api:JobRetention; an
/// idempotency key for Api:IdempotencyKeyTtl.
/// </summary>
public sealed class JobRetentionTests(ApiFactory api) : IClassFixture<ApiFactory>, IAsyncLifetime
{
    /// <summary>Slack for the time between the script setting a TTL and the test reading it.</summary>
    private static readonly TimeSpan Slack = TimeSpan.FromMinutes(1);

    private readonly RedisKeys _keys = new();

    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Submit_WithKey_JobHasNoTtlAndKeyExpiresAfterIdempotencyKeyTtl()
    {
        using var client = api.CreateApiClient();
        var key = "retention-" + Guid.NewGuid().ToString("N");

        var jobId = await SubmitAsync(client, key);

        var db = api.Redis.GetDatabase();
        Assert.Null(await db.KeyTimeToLiveAsync(_keys.Job(jobId)).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
        var keyTtl = await db.KeyTimeToLiveAsync(_keys.Idempotency(TenantNames.Default, key)).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        Assert.NotNull(keyTtl);
        Assert.InRange(keyTtl.Value, ApiFactory.IdempotencyKeyTtl - Slack, ApiFactory.IdempotencyKeyTtl);
    }

    [Fact]
    public async Task Processing_JobStillHasNoTtl()
    {
        using var client = api.CreateApiClient();
        var jobId = await SubmitAsync(client, idempotencyKey: null);
        var worker = await TestWorker.StartAsync(api);

        await worker.StartAttemptsAsync(1);

        var db = api.Redis.GetDatabase();
        Assert.Equal("processing", (string?)await db.HashGetAsync(_keys.Job(jobId), "status").WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
        Assert.Null(await db.KeyTimeToLiveAsync(_keys.Job(jobId)).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
        Assert.Null(await db.KeyTimeToLiveAsync(_keys.Events(jobId)).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Fail_JobAndHistoryExpireAfterJobRetention()
    {
        using var client = api.CreateApiClient();
        var jobId = await SubmitAsync(client, idempotencyKey: null);
        var worker = await TestWorker.StartAsync(api);
        var (lease, attempt) = Assert.Single(await worker.StartAttemptsAsync(1));

        await worker.FailAsync(lease, attempt);

        await AssertExpiresAfterRetentionAsync(jobId, "failed");
    }

    [Fact]
    public async Task Complete_JobAndHistoryExpireAfterJobRetention()
    {
        using var client = api.CreateApiClient();
        var jobId = await SubmitAsync(client, idempotencyKey: null);
        var worker = await TestWorker.StartAsync(api);
        var (lease, attempt) = Assert.Single(await worker.StartAttemptsAsync(1));

        Assert.True(await worker.Store.CompleteAsync(lease, attempt, new JobResult("done", "sim-1", new TokenUsage(3, 1)))
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));

        await AssertExpiresAfterRetentionAsync(jobId, "completed");
        // The finished entry is acknowledged and removed: the stream holds only unfinished work.
        Assert.Equal(0, await api.Redis.GetDatabase().StreamLengthAsync(_keys.Stream).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
    }

    private async Task AssertExpiresAfterRetentionAsync(string jobId, string status)
    {
        var db = api.Redis.GetDatabase();
        Assert.Equal(status, (string?)await db.HashGetAsync(_keys.Job(jobId), "status").WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
        // The history is in the job's hash: no key of its own is left behind.
        Assert.False(await db.KeyExistsAsync(_keys.History(jobId)).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
        foreach (RedisKey key in new[] { _keys.Job(jobId), _keys.Events(jobId) })
        {
            var ttl = await db.KeyTimeToLiveAsync(key).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
            Assert.True(ttl is not null, $"{key} has no TTL once the job is {status}.");
            Assert.InRange(ttl.Value, ApiFactory.JobRetention - Slack, ApiFactory.JobRetention);
        }

        // Still readable through the API until it expires.
        using var client = api.CreateApiClient();
        using var response = await ApiFactory.GetAsync(client, $"/jobs/{jobId}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<string> SubmitAsync(HttpClient client, string? idempotencyKey)
    {
        using var response = idempotencyKey is null
            ? await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"keep me a while"}"""))
            : await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"keep me a while"}"""), ("x-idempotency-key", idempotencyKey));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
        return json.RootElement.GetProperty("jobId").GetString()!;
    }
}

using System.Net;
using System.Text.Json;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// Redis at its memory limit (<c>maxmemory</c> below what it uses, policy <c>noeviction</c>, set with
/// <c>CONFIG SET</c> on a real server): <c>POST /jobs</c> answers 503 <c>storage-full</c> with
/// <c>Retry-After</c> and writes nothing; once memory is back the same request with the same key
/// creates its job. Regression: this was a 500. Its detail asks for the same idempotency key only
/// of a request that sent one.
/// </summary>
public sealed class StorageFullTests(ApiFactory api) : IClassFixture<ApiFactory>, IAsyncLifetime
{
    private const string Body = """{"prompt":"Summarise the memory policy.","metadata":{"team":"storage"}}""";

    private readonly RedisKeys _keys = new();

    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public async ValueTask DisposeAsync() => await SetMaxMemoryAsync(0);

    [Fact]
    public async Task Submit_RedisAtMaxMemory_Answers503StorageFullWritesNothing_SameKeyCreatesAfterRecovery()
    {
        using var client = api.CreateApiClient();
        var savedKey = "before-" + Guid.NewGuid().ToString("N");
        using (var before = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), ("x-idempotency-key", savedKey)))
        {
            Assert.Equal(HttpStatusCode.Accepted, before.StatusCode);
        }

        var keysBefore = await AllKeysAsync();
        var queuedBefore = await QueuedAsync();
        await SetMaxMemoryAsync(Math.Max(1, await api.Redis.GetDatabase().UsedMemoryAsync() / 2));

        var key = "full-" + Guid.NewGuid().ToString("N");
        using (var full = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), ("x-idempotency-key", key)))
        {
            await AssertStorageFullAsync(full);
        }

        // Concurrent submissions share round trips (group commit): each is refused on its own, none is a 500.
        var burst = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => ApiFactory.PostJobAsync(client,
            ApiFactory.Json($$"""{"prompt":"burst {{i}}"}"""), ("x-idempotency-key", $"burst-{i}-{key}"))));
        foreach (var response in burst)
        {
            using (response)
            {
                await AssertStorageFullAsync(response);
            }
        }

        // A replay only reads: the job an earlier request created is still answered.
        using (var replay = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), ("x-idempotency-key", savedKey)))
        {
            Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
            Assert.Equal(["true"], replay.Headers.GetValues("Idempotent-Replayed"));
        }

        // Nothing was written: no job hash, no ready-set entry, no idempotency key.
        Assert.Equal(keysBefore, await AllKeysAsync());
        Assert.Equal(queuedBefore, await QueuedAsync());
        Assert.False(await api.Redis.GetDatabase().KeyExistsAsync(_keys.Idempotency(TenantNames.Default, key)));

        await SetMaxMemoryAsync(0);
        using var recovered = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), ("x-idempotency-key", key));
        Assert.Equal(HttpStatusCode.Accepted, recovered.StatusCode);
        Assert.False(recovered.Headers.Contains("Idempotent-Replayed"), "The refused request created a job after all.");
        using var json = JsonDocument.Parse(await recovered.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var jobId = json.RootElement.GetProperty("jobId").GetString()!;
        Assert.Equal(queuedBefore + 1, await QueuedAsync());
        Assert.Equal(keysBefore.Length + 3, (await AllKeysAsync()).Length); // the job hash, its events and the key
        Assert.True(await api.Redis.GetDatabase().KeyExistsAsync(_keys.Job(jobId)));
        Assert.True(await api.Redis.GetDatabase().KeyExistsAsync(_keys.Events(jobId)));
    }

    [Fact]
    public async Task SubmitWithoutKey_Or_Redrive_RedisAtMaxMemory_503DetailDoesNotAskForAKey()
    {
        using var client = api.CreateApiClient();
        using (var submitted = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body)))
        {
            Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        }

        var worker = await TestWorker.StartAsync(api);
        var (lease, attempt) = Assert.Single(await worker.StartAttemptsAsync(1));
        await worker.FailAsync(lease, attempt);
        await SetMaxMemoryAsync(Math.Max(1, await api.Redis.GetDatabase().UsedMemoryAsync() / 2));

        // Neither sent an idempotency key (a redrive takes none): "retry with the same key" would not fit.
        using (var keyless = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body)))
        {
            await AssertStorageFullAsync(keyless, keyed: false);
        }

        using (var one = await client.PostAsync($"/dead-letters/{lease.JobId}/redrive", null, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken))
        {
            await AssertStorageFullAsync(one, keyed: false);
        }

        using var many = await client.PostAsync("/dead-letters/redrive", ApiFactory.Json("{}"), TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        await AssertStorageFullAsync(many, keyed: false);
    }

    private static async Task AssertStorageFullAsync(HttpResponseMessage response, bool keyed = true)
    {
        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.EndsWith("storage-full", problem.RootElement.GetProperty("type").GetString(), StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter?.Delta);
        Assert.Equal(keyed, problem.RootElement.GetProperty("detail").GetString()!.Contains("idempotency key", StringComparison.Ordinal));
    }

    private async Task<string[]> AllKeysAsync()
    {
        var server = api.Redis.GetServer(api.Redis.GetEndPoints().Single());
        var keys = new List<string>();
        await foreach (var key in server.KeysAsync(pattern: "*").WithCancellation(TestContext.Current.CancellationToken))
        {
            keys.Add(key!);
        }

        return [.. keys.Order(StringComparer.Ordinal)];
    }

    /// <summary>Jobs waiting in the default tenant's ready set (submissions go there; no worker runs here).</summary>
    private Task<long> QueuedAsync() =>
        api.Redis.GetDatabase().SortedSetLengthAsync(_keys.Ready(TenantNames.Default)).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

    private Task SetMaxMemoryAsync(long bytes) =>
        api.Redis.GetServer(api.Redis.GetEndPoints().Single()).ConfigSetAsync("maxmemory", bytes)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
}

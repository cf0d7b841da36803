using System.Net;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// The API's <c>/health</c> while a real Redis refuses its writes but answers PING: at its memory
/// limit (<c>maxmemory</c> below what it uses, <c>noeviction</c>: OOM, answered 503 storage-full) and
/// as a replica (<c>REPLICAOF</c>: READONLY, answered 503), and when too few replicas confirm the writes
/// (<c>Redis:WaitReplicas</c>), Redis is not ready (BUSY, as TRYAGAIN in a slot migration) or cannot
/// persist (MISCONF, answered 503 too). It said Healthy throughout; it is Degraded from the first refused
/// submission and Healthy again once one is written. Near its memory limit (95 % of
/// <c>maxmemory</c>) it is Degraded before any submission is refused.
/// </summary>
public sealed class WriteRefusalHealthTests(ApiFactory api) : IClassFixture<ApiFactory>, IAsyncLifetime
{
    private const string Body = """{"prompt":"Is the job store taking writes?"}""";

    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public async ValueTask DisposeAsync()
    {
        await Server.ConfigSetAsync("maxmemory", 0).WaitAsync(ApiFactory.RequestTimeout);
        await Server.ConfigSetAsync("busy-reply-threshold", 5000).WaitAsync(ApiFactory.RequestTimeout);
        await RedisPersistence.StopSavingAsync(Server).WaitAsync(ApiFactory.RequestTimeout);
        await api.Redis.GetDatabase().ExecuteAsync("REPLICAOF", "NO", "ONE").WaitAsync(ApiFactory.RequestTimeout);
    }

    private StackExchange.Redis.IServer Server => api.Redis.GetServer(api.Redis.GetEndPoints().Single());

    [Fact]
    public async Task Health_RedisAtMaxMemory_DegradedFromTheFirstRefusedSubmission_HealthyOnceOneIsWritten()
    {
        using var client = api.CreateApiClient();
        await AssertSubmittedThenHealthyAsync(client);

        await Server.ConfigSetAsync("maxmemory", Math.Max(1, await api.Redis.GetDatabase().UsedMemoryAsync().WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken) / 2)).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        using (var refused = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body)))
        {
            using var problem = await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.ServiceUnavailable);
            Assert.EndsWith("storage-full", problem.RootElement.GetProperty("type").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal("Degraded", await HealthAsync(client));
        await Server.ConfigSetAsync("maxmemory", 0).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        await AssertSubmittedThenHealthyAsync(client);
    }

    [Fact]
    public async Task Health_RedisMemoryNearMaxMemory_DegradedBeforeAnySubmission_HealthyOnceTheLimitIsRaised()
    {
        using var client = api.CreateApiClient();
        await AssertSubmittedThenHealthyAsync(client);

        // At 95 % Redis takes every write: no submission is refused, and /health said Healthy until one was.
        await Server.ConfigSetAsync("maxmemory", (long)(await api.Redis.GetDatabase().UsedMemoryAsync().WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken) / 0.95)).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        Assert.Equal("Degraded", await HealthAsync(client));

        await Server.ConfigSetAsync("maxmemory", 0).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        Assert.Equal("Healthy", await HealthAsync(client));
    }

    [Fact]
    public async Task Health_RedisBecameAReplica_DegradedFromTheFirstRefusedSubmission_HealthyOnceOneIsWritten()
    {
        using var client = api.CreateApiClient();
        await AssertSubmittedThenHealthyAsync(client);

        // A failover's effect on the old primary: a replica (of one that does not answer here, so it keeps its data).
        await api.Redis.GetDatabase().ExecuteAsync("REPLICAOF", "127.0.0.1", "1").WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        using (var refused = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body)))
        {
            await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.ServiceUnavailable);
        }

        Assert.Equal("Degraded", await HealthAsync(client));
        await api.Redis.GetDatabase().ExecuteAsync("REPLICAOF", "NO", "ONE").WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        // The client may take the node for a replica until its next configuration check (seconds).
        await AsyncWait.WaitUntilAsync(async () =>
        {
            using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body));
            return response.StatusCode == HttpStatusCode.Accepted;
        }, TimeSpan.FromSeconds(30), "a submission is written again", TimeSpan.FromMilliseconds(200));
        Assert.Equal("Healthy", await HealthAsync(client));
    }

    [Fact]
    public async Task Health_RedisCannotPersist_503AndDegradedFromTheFirstRefusedSubmission_HealthyOnceOneIsWritten()
    {
        // MISCONF (a snapshot that could not be written: a full or failing disk) refuses every write and
        // answers PING: an outside audit saw 2,531 submissions answered 500 in 31 s, /health Healthy.
        using var client = api.CreateApiClient();
        await AssertSubmittedThenHealthyAsync(client);

        await RedisPersistence.BreakAsync(Server).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        using (var refused = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body)))
        {
            using var problem = await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.ServiceUnavailable);
            Assert.Equal("urn:orchestrator:problem:store-unavailable", problem.RootElement.GetProperty("type").GetString());
            Assert.Contains("it cannot save its data to disk", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
        }

        Assert.Equal("Degraded", await HealthAsync(client));
        await RedisPersistence.StopSavingAsync(Server).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        await AssertSubmittedThenHealthyAsync(client);
    }

    [Fact]
    public async Task Health_RedisNotReady_DegradedFromTheFirstRefusedSubmission_HealthyOnceOneIsWritten()
    {
        // Not ready (TRYAGAIN in a slot migration, CLUSTERDOWN, LOADING, MASTERDOWN, here BUSY): Redis
        // answers, refusing. A migration refused a partition's submissions for 18 s with /health Healthy.
        using var client = api.CreateApiClient();
        await AssertSubmittedThenHealthyAsync(client);

        await Server.ConfigSetAsync("busy-reply-threshold", 50).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        // A script that keeps Redis busy for 3 s (past busy-reply-threshold, other commands are answered BUSY).
        var busy = api.Redis.GetDatabase().ScriptEvaluateAsync("""
            local t = redis.call('TIME'); local start = t[1] * 1000 + t[2] / 1000
            repeat t = redis.call('TIME') until t[1] * 1000 + t[2] / 1000 - start > tonumber(ARGV[1])
            return 1
            """, values: [3000]);
        string? refusal = null;
        await AsyncWait.WaitUntilAsync(async () =>
        {
            using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body));
            refusal = response.StatusCode == HttpStatusCode.ServiceUnavailable ? await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken) : null;
            return refusal is not null;
        }, TimeSpan.FromSeconds(2.5), "a submission is refused while Redis is busy", TimeSpan.FromMilliseconds(20));
        await busy.WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);

        Assert.Contains("urn:orchestrator:problem:store-unavailable", refusal, StringComparison.Ordinal);
        Assert.Contains("answered that it cannot serve this request yet", refusal, StringComparison.Ordinal);
        Assert.Equal("Degraded", await HealthAsync(client));
        await AssertSubmittedThenHealthyAsync(client);
    }

    [Fact]
    public async Task Health_TooFewReplicasConfirmSubmissions_DegradedWhileTheyAreRefused()
    {
        // Redis:WaitReplicas 1 on a Redis with no replica: every submission is refused 503 "Job not
        // replicated", and /health said Healthy throughout.
        await using var redis = await RedisServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        await using var process = await ApiProcess.StartAsync(redis.ConnectionString, new Dictionary<string, string>
        {
            ["Auth:AllowAnonymous"] = "true",
            ["Redis:WaitReplicas"] = "1",
            ["Redis:WaitTimeout"] = "00:00:00.100",
        });
        using var client = process.CreateClient(key: null);
        Assert.Equal("Healthy", await HealthAsync(client));

        using (var refused = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body)))
        {
            using var problem = await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.ServiceUnavailable);
            Assert.Equal("urn:orchestrator:problem:not-replicated", problem.RootElement.GetProperty("type").GetString());
        }

        Assert.Equal("Degraded", await HealthAsync(client));
    }

    private static async Task AssertSubmittedThenHealthyAsync(HttpClient client)
    {
        using (var written = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body)))
        {
            Assert.Equal(HttpStatusCode.Accepted, written.StatusCode);
        }

        Assert.Equal("Healthy", await HealthAsync(client));
    }

    private static async Task<string> HealthAsync(HttpClient client)
    {
        using var response = await client.GetAsync("/health", TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        return await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
    }
}

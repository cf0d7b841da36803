using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// What the cluster tests share: a <see cref="RedisCluster"/> of the test's own, the real API and
/// worker processes on it (killed on dispose), a client that submits through the API as a careful
/// client would (retrying a 503 or a lost answer with the same idempotency key), and the real
/// <see cref="JobStore"/> over a cluster connection to inspect the jobs.
/// </summary>
internal sealed class ClusterHarness : IAsyncDisposable
{
    /// <summary>The bound on one HTTP request or Redis command from the test.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    private readonly List<ApiProcess> _apis = [];
    private readonly List<WorkerProcess> _workers = [];

    private ClusterHarness(RedisCluster cluster, ConnectionMultiplexer connection, int partitions)
    {
        Cluster = cluster;
        Connection = connection;
        Partitions = partitions;
        Store = new JobStore(connection, new RedisKeys(partitions: partitions));
    }

    /// <summary>The services' <c>Jobs:Partitions</c>.</summary>
    public int Partitions { get; }

    public RedisCluster Cluster { get; }

    public ConnectionMultiplexer Connection { get; }

    public JobStore Store { get; }

    public IReadOnlyList<ApiProcess> Apis => _apis;

    public IReadOnlyList<WorkerProcess> Workers => _workers;

    /// <summary>
    /// Starts a cluster; with <paramref name="partitions"/> above 1 the partitions' slots are placed
    /// round robin over the masters first (<see cref="RedisCluster.PlaceSlotsAsync"/>), and every
    /// service started gets <c>Jobs:Partitions</c>.
    /// </summary>
    public static async Task<ClusterHarness> StartAsync(RedisClusterOptions options, int partitions = 1)
    {
        var cluster = await RedisCluster.StartAsync(options, TestContext.Current.CancellationToken);
        try
        {
            if (partitions > 1)
            {
                await cluster.PlaceSlotsAsync([.. new RedisKeys(partitions: partitions).All.Select(k => k.Stream)], TestContext.Current.CancellationToken);
            }

            var connection = await cluster.ConnectAsync("abortConnect=false").WaitAsync(RequestTimeout, TestContext.Current.CancellationToken);
            return new ClusterHarness(cluster, connection, partitions);
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async Task<ApiProcess> StartApiAsync(IReadOnlyDictionary<string, string> settings, string name)
    {
        // Anonymous requests are served as tenant "default": these tests are about Redis, not keys.
        var all = new Dictionary<string, string>(settings) { ["Auth:AllowAnonymous"] = "true", ["Jobs:Partitions"] = $"{Partitions}" };
        var api = await ApiProcess.StartAsync(Cluster.ConnectionString, all, name);
        _apis.Add(api);
        return api;
    }

    public async Task<WorkerProcess> StartWorkerAsync(IReadOnlyDictionary<string, string> settings, string name)
    {
        var worker = WorkerProcess.Start(Cluster.ConnectionString, new Dictionary<string, string>(settings) { ["Jobs:Partitions"] = $"{Partitions}" }, name);
        _workers.Add(worker);
        await worker.WaitUntilStartedAsync(TestContext.Current.CancellationToken);
        return worker;
    }

    /// <summary>
    /// Submits <paramref name="count"/> jobs through <paramref name="api"/>, <paramref name="concurrency"/>
    /// at a time, each with its own idempotency key, retried with that key after a 503 or a lost answer
    /// until it is answered 202 or <paramref name="deadline"/> passes. Returns the acknowledged job ids
    /// by key, and how many attempts were not answered 202.
    /// </summary>
    public static async Task<SubmissionReport> SubmitAsync(
        ApiProcess api, int count, int concurrency, TimeSpan deadline, Action<int>? onAcknowledged = null, string keyPrefix = "cluster-job-")
    {
        using var client = api.CreateClient(key: null);
        var acknowledged = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        var refused = 0;
        var lost = 0;
        var stop = DateTime.UtcNow + deadline;
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var key = $"{keyPrefix}{i}";
                while (DateTime.UtcNow < stop)
                {
                    try
                    {
                        using var request = new HttpRequestMessage(HttpMethod.Post, "/jobs")
                        {
                            Content = new StringContent($$"""{"prompt":"Job {{i}}: explain failover."}""", Encoding.UTF8, "application/json"),
                        };
                        request.Headers.Add("Idempotency-Key", key);
                        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
                        if (response.StatusCode == HttpStatusCode.Accepted)
                        {
                            var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
                            var jobId = System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("jobId").GetString()!;
                            acknowledged[key] = jobId;
                            onAcknowledged?.Invoke(acknowledged.Count);
                            break;
                        }

                        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable,
                            $"POST /jobs answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)}");
                        Assert.True(response.Headers.RetryAfter is not null, "a 503 without Retry-After");
                        Interlocked.Increment(ref refused);
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !TestContext.Current.CancellationToken.IsCancellationRequested)
                    {
                        Interlocked.Increment(ref lost);
                    }

                    await Task.Delay(200, TestContext.Current.CancellationToken);
                }
            }
        }));

        return new SubmissionReport(acknowledged, refused, lost);
    }

    /// <summary>Waits until every job is completed or failed; the message lists the statuses of those that are not.</summary>
    public async Task<IReadOnlyList<Job>> WaitUntilAllFinalAsync(IReadOnlyCollection<string> jobIds, TimeSpan timeout)
    {
        IReadOnlyList<Job?> jobs = [];
        await AsyncWait.WaitUntilAsync(
            async () =>
            {
                try
                {
                    jobs = await Task.WhenAll(jobIds.Select(id => Store.GetAsync(id))).WaitAsync(RequestTimeout, TestContext.Current.CancellationToken);
                }
                catch (Exception e) when (RedisFailure.IsTransient(e) || e is TimeoutException)
                {
                    return false; // the cluster is still settling after a failover
                }

                return jobs.All(j => j is not null && JobStatus.IsTerminal(j.Status));
            },
            timeout,
            $"all {jobIds.Count} jobs are completed or failed",
            TimeSpan.FromMilliseconds(250));
        return [.. jobs.Select(j => j!)];
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }

        foreach (var api in _apis)
        {
            await api.DisposeAsync();
        }

        await Connection.DisposeAsync();
        await Cluster.DisposeAsync();
    }
}

/// <summary>What <see cref="ClusterHarness.SubmitAsync"/> saw: job ids by idempotency key, 503s, and requests with no answer.</summary>
internal sealed record SubmissionReport(IReadOnlyDictionary<string, string> Acknowledged, int Refused, int Lost);

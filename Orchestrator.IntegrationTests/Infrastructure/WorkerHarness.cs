using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// What the worker process tests share: a Redis server of the test's own, a client connection,
/// the real <see cref="JobStore"/> to submit and inspect jobs, and the worker processes the test
/// started (all killed on dispose, their output written to the test's output).
/// </summary>
internal sealed class WorkerHarness : IAsyncDisposable
{
    /// <summary>The bound on one Redis command from the test.</summary>
    public static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    private readonly List<WorkerProcess> _workers = [];

    private WorkerHarness(RedisServer redis, ConnectionMultiplexer connection)
    {
        Redis = redis;
        Connection = connection;
        Store = new JobStore(connection);
    }

    public RedisServer Redis { get; }

    public ConnectionMultiplexer Connection { get; }

    public JobStore Store { get; }

    public RedisKeys Keys => Store.Keys;

    public IDatabase Db => Connection.GetDatabase();

    public IServer Server => Connection.GetServers()[0];

    /// <summary>
    /// Keeps <paramref name="consumer"/>'s pending entries <paramref name="ids"/> fresh (idle time 0,
    /// every 200 ms) until <paramref name="stop"/>: a live worker's, as a reclaimer sees them.
    /// </summary>
    public Task KeepPendingFreshAsync(string consumer, RedisValue[] ids, CancellationToken stop) => Task.Run(async () =>
    {
        while (!stop.IsCancellationRequested)
        {
            await Db.StreamClaimIdsOnlyAsync(Keys.Stream, RedisKeys.ConsumerGroup, consumer, 0, ids);
            await Task.Delay(200, stop).ContinueWith(static _ => { }, TaskScheduler.Default);
        }
    }, TestContext.Current.CancellationToken);

    public static async Task<WorkerHarness> StartAsync(RedisServerOptions? options = null)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var redis = await RedisServer.StartAsync(options, cancellationToken);
        try
        {
            // abortConnect=false: the outage test stops Redis under this connection; it must come back.
            // allowAdmin: some tests look at CLIENT LIST.
            var connection = await ConnectionMultiplexer.ConnectAsync($"{redis.ConnectionString},abortConnect=false,allowAdmin=true")
                .WaitAsync(CommandTimeout, cancellationToken);
            return new WorkerHarness(redis, connection);
        }
        catch
        {
            await redis.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts a worker process on this Redis; it is killed when the harness is disposed.
    /// <paramref name="connectionOptions"/> are appended to its connection string (",asyncTimeout=1000").
    /// </summary>
    public async Task<WorkerProcess> StartWorkerAsync(IReadOnlyDictionary<string, string> settings, string name, string connectionOptions = "")
    {
        var worker = WorkerProcess.Start(Redis.ConnectionString + connectionOptions, settings, name);
        _workers.Add(worker);
        await worker.WaitUntilStartedAsync(TestContext.Current.CancellationToken);
        return worker;
    }

    /// <summary>Submits one job through the real store, as the API does.</summary>
    public async Task<string> SubmitAsync(int maxAttempts, IReadOnlyDictionary<string, string>? metadata = null, string prompt = "Explain leases in one sentence.")
    {
        var result = await Store.SubmitAsync(NewJob(prompt, maxAttempts, metadata), idempotency: null).WaitAsync(CommandTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(SubmitOutcome.Created, result.Outcome);
        return result.JobId;
    }

    /// <summary>A new job as the API would create it (submit.lua stamps its creation time).</summary>
    public static NewJob NewJob(string prompt, int maxAttempts, IReadOnlyDictionary<string, string>? metadata = null) =>
        new(JobIds.New(), new JobRequest(prompt, Metadata: metadata), maxAttempts, TimeSpan.FromDays(1));

    /// <summary>
    /// Submits <paramref name="count"/> jobs of <paramref name="tenant"/> concurrently (3 attempts each),
    /// their requests shaped by <paramref name="request"/> (a priority, maxTokens, …).
    /// </summary>
    public async Task<IReadOnlyList<string>> SubmitForTenantAsync(string tenant, int count, Func<JobRequest, JobRequest>? request = null) =>
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            var job = NewJob($"{tenant} job {i}: explain leases.", maxAttempts: 3);
            var result = await Store.SubmitAsync(job with { Tenant = tenant, Request = request?.Invoke(job.Request) ?? job.Request }, idempotency: null)
                .WaitAsync(CommandTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(SubmitOutcome.Created, result.Outcome);
            return result.JobId;
        }));

    /// <summary>Submits <paramref name="count"/> jobs concurrently.</summary>
    public async Task<IReadOnlyList<string>> SubmitManyAsync(int count, int maxAttempts, Func<int, IReadOnlyDictionary<string, string>?>? metadata = null) =>
        await Task.WhenAll(Enumerable.Range(0, count).Select(i => SubmitAsync(maxAttempts, metadata?.Invoke(i), $"Prompt number {i}: explain leases.")));

    /// <summary>Submits one job and claims it as "worker-a", its first attempt started (a worker's usual claim).</summary>
    public async Task<ClaimResult> ClaimOneAsync(int maxAttempts, IReadOnlyDictionary<string, string>? metadata = null)
    {
        await Store.EnsureConsumerGroupAsync().Bounded();
        await SubmitAsync(maxAttempts, metadata);
        var delivery = Assert.Single(await Store.ReadNewAsync("worker-a", 10, TimeSpan.FromMilliseconds(100)).Bounded());
        var claim = await Store.ClaimAsync(delivery, "worker-a", startAttempt: true).Bounded();
        Assert.Equal(1, claim.StartedAttempt);
        return claim;
    }

    public async Task<Job> GetAsync(string jobId) =>
        await Store.GetAsync(jobId).WaitAsync(CommandTimeout, TestContext.Current.CancellationToken)
        ?? throw new InvalidOperationException($"Job {jobId} does not exist.");

    public async Task<IReadOnlyList<Job>> GetAllAsync(IReadOnlyList<string> jobIds) =>
        await Task.WhenAll(jobIds.Select(GetAsync));

    /// <summary>Waits until every job is completed or failed; the message lists the statuses of those that are not.</summary>
    public async Task<IReadOnlyList<Job>> WaitUntilAllFinalAsync(IReadOnlyList<string> jobIds, TimeSpan timeout)
    {
        IReadOnlyList<Job> jobs = [];
        try
        {
            await AsyncWait.WaitUntilAsync(
                async () =>
                {
                    jobs = await GetAllAsync(jobIds);
                    return jobs.All(j => JobStatus.IsTerminal(j.Status));
                },
                timeout,
                $"all {jobIds.Count} jobs are completed or failed",
                TimeSpan.FromMilliseconds(200));
        }
        catch (Xunit.Sdk.FailException e)
        {
            Assert.Fail($"{e.Message} Statuses at the end: {Describe(jobs)}.");
        }

        return jobs;
    }

    /// <summary>Entries in the jobs stream (0 once every job is final: final entries are deleted).</summary>
    public async Task<long> StreamLengthAsync() =>
        await Db.StreamLengthAsync(Keys.Stream).WaitAsync(CommandTimeout, TestContext.Current.CancellationToken);

    /// <summary>
    /// Waits until <paramref name="workers"/> worker processes listen for ready work (so each
    /// dispatches once jobs exist). Redis lists a consumer in XINFO CONSUMERS only once something was
    /// delivered to it, so this asks who subscribes to <see cref="RedisKeys.ReadyChannel"/>.
    /// </summary>
    public Task WaitUntilWorkersListenAsync(int workers) =>
        AsyncWait.WaitUntilAsync(
            async () => (long)((RedisResult[])(await Db.ExecuteAsync("PUBSUB", "NUMSUB", Keys.ReadyChannel.ToString()).Bounded())!)[1] == workers,
            TimeSpan.FromSeconds(30), $"{workers} workers listen for ready work");

    /// <summary>Entries delivered to some consumer and not acknowledged.</summary>
    public async Task<long> PendingCountAsync() =>
        (await Store.GetStatsAsync().WaitAsync(CommandTimeout, TestContext.Current.CancellationToken)).Pending;

    public static string Describe(IEnumerable<Job> jobs) =>
        string.Join(", ", jobs.GroupBy(j => j.Status).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}: {g.Count()}"));

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }

        await Connection.DisposeAsync();
        await Redis.DisposeAsync();
    }
}

/// <summary>Bounds for the awaits of the worker tests.</summary>
internal static class BoundedTasks
{
    /// <summary>Waits at most <see cref="WorkerHarness.CommandTimeout"/> (and honours the test's cancellation).</summary>
    public static Task<T> Bounded<T>(this Task<T> task) =>
        task.WaitAsync(WorkerHarness.CommandTimeout, TestContext.Current.CancellationToken);

    /// <inheritdoc cref="Bounded{T}(Task{T})"/>
    public static Task Bounded(this Task task) =>
        task.WaitAsync(WorkerHarness.CommandTimeout, TestContext.Current.CancellationToken);
}

/// <summary>
/// Tests that run real worker processes against the worker's own faults (crashes, leases, retries,
/// sharing). They run one at a time (each starts several processes and measures timings on a 2-core
/// machine), beside the other collections.
/// </summary>
[CollectionDefinition(Name)]
public sealed class WorkerProcessCollection
{
    /// <summary>The collection's name, for <c>[Collection(WorkerProcessCollection.Name)]</c>.</summary>
    public const string Name = "worker-processes";
}

/// <summary>
/// Worker processes against Redis's own faults (outages, pauses, eviction, consumers gone stale):
/// one at a time as <see cref="WorkerProcessCollection"/>'s, but beside it. Their pace is set by
/// leases, outages and reconnects, not by the CPU, and held in that collection they made it the
/// suite's longest path (~4.5 minutes of its ~8.5).
/// </summary>
[CollectionDefinition(Name)]
public sealed class RedisFaultProcessCollection
{
    /// <summary>The collection's name, for <c>[Collection(RedisFaultProcessCollection.Name)]</c>.</summary>
    public const string Name = "redis-fault-processes";
}

/// <summary>
/// Tests of what clients see over real API and worker processes (results, cancels, redrives, tenants,
/// the typed client, the jobs page): one at a time as <see cref="WorkerProcessCollection"/>'s, but
/// beside it. Held in that collection they made it the suite's longest path, ~2 minutes past the rest.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ApiProcessCollection
{
    /// <summary>The collection's name, for <c>[Collection(ApiProcessCollection.Name)]</c>.</summary>
    public const string Name = "api-processes";
}

/// <summary>
/// The provider tests' worker processes (flow control, delayed jobs, fallbacks, provider errors):
/// one at a time as <see cref="WorkerProcessCollection"/>'s, but beside it. Their pace is set by the
/// simulated deployments' limits and cooldowns, not by the CPU, and the worker collection alone was
/// the suite's longest path.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ProviderProcessCollection
{
    /// <summary>The collection's name, for <c>[Collection(ProviderProcessCollection.Name)]</c>.</summary>
    public const string Name = "provider-processes";
}

using System.Globalization;
using Orchestrator.Jobs;
using StackExchange.Redis;
using Orchestrator.Testing;

namespace Orchestrator.Benchmarks.Infrastructure;

/// <summary>What every scenario shares: the Redis server, a client connection, the real job store, and the service builds.</summary>
internal sealed class BenchmarkContext(RedisServer redis, ConnectionMultiplexer connection, string repositoryRoot, TextWriter log)
{
#if DEBUG
    public const string Configuration = "Debug";
#else
    public const string Configuration = "Release";
#endif

    /// <summary>Environment variables with this prefix are passed to every worker without it.</summary>
    public const string WorkerOverridePrefix = "ORCHESTRATOR_BENCH_WORKER_";

    /// <summary>Environment variables with this prefix are passed to the API (S1) without it.</summary>
    public const string ApiOverridePrefix = "ORCHESTRATOR_BENCH_API_";

    public static bool IsRelease { get; } = Configuration == "Release";

    public RedisServer Redis { get; } = redis;

    public IConnectionMultiplexer Connection { get; } = connection;

    public IDatabase Db { get; } = connection.GetDatabase();

    public RedisKeys Keys { get; } = new();

    /// <summary>The store the API and the worker use, so seeded jobs are exactly what <c>POST /jobs</c> creates.</summary>
    public JobStore Store { get; } = new(connection);

    public TextWriter Log { get; } = log;

    public string ApiAssembly => Path.Combine(repositoryRoot, "Orchestrator.Api", "bin", Configuration, "net10.0", "Orchestrator.Api.dll");

    public string WorkerAssembly => Path.Combine(repositoryRoot, "Orchestrator.Worker", "bin", Configuration, "net10.0", "Orchestrator.Worker.dll");

    /// <summary>Starts a fresh scenario: no keys, no consumer group.</summary>
    public async Task FlushAsync() => await Db.ExecuteAsync("FLUSHALL", "SYNC");

    /// <summary>Jobs not yet final (ready, dispatched or delayed), as the store counts them: <see cref="QueueStats.Unfinished"/>.</summary>
    public Task<long> UnfinishedAsync() => UnfinishedAsync(Store);

    /// <summary>Polls the store's queue stats (O(1) reads, one round trip every 20 ms) until no job is left.</summary>
    public Task WaitUntilDrainedAsync(ChildProcess worker, TimeSpan timeout, Action? onPoll = null) =>
        WaitUntilDrainedAsync(Store, worker, timeout, onPoll);

    /// <summary>The same for any store (S2C and S3C drain a cluster's).</summary>
    public static async Task WaitUntilDrainedAsync(JobStore store, ChildProcess worker, TimeSpan timeout, Action? onPoll = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (await UnfinishedAsync(store) > 0)
        {
            onPoll?.Invoke();
            if (worker.HasExited)
            {
                throw new InvalidOperationException($"The worker exited early:{Environment.NewLine}{worker.Tail()}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{await UnfinishedAsync(store)} job(s) unfinished after {timeout}.{Environment.NewLine}{worker.Tail()}");
            }

            await Task.Delay(20);
        }
    }

    private static async Task<long> UnfinishedAsync(JobStore store) => (await store.GetStatsAsync()).Unfinished;

    /// <summary>
    /// Commands Redis has executed so far, by command (<c>INFO commandstats</c>; a script's inner
    /// calls count under their own names). The suite's own polling adds a few per second.
    /// </summary>
    public Task<Dictionary<string, long>> RedisCallsAsync() => CommandStatAsync("calls");

    /// <summary>
    /// Microseconds Redis has spent executing each command so far (<c>INFO commandstats</c>'
    /// <c>usec</c>: a script's own time, its inner calls included, without reading and replying).
    /// </summary>
    public Task<Dictionary<string, long>> RedisMicrosecondsAsync() => CommandStatAsync("usec");

    private async Task<Dictionary<string, long>> CommandStatAsync(string stat)
    {
        var info = (string)(await Db.ExecuteAsync("INFO", "commandstats"))!;
        var values = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in info.Split('\n'))
        {
            // cmdstat_evalsha:calls=3,usec=120,usec_per_call=40.00,…
            var start = line.IndexOf($":{stat}=", StringComparison.Ordinal);
            if (start < 0)
            {
                start = line.IndexOf($",{stat}=", StringComparison.Ordinal);
            }

            if (line.StartsWith("cmdstat_", StringComparison.Ordinal) && start > 0)
            {
                start += stat.Length + 2;
                var end = line.IndexOf(',', start);
                values[line[8..line.IndexOf(':', StringComparison.Ordinal)]] = long.Parse(line.AsSpan(start, end - start), CultureInfo.InvariantCulture);
            }
        }

        return values;
    }

    /// <summary>Starts the real worker (Release build) against this Redis.</summary>
    public ChildProcess StartWorker(int concurrency, TimeSpan latency, IReadOnlyDictionary<string, string>? extra = null)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["ConnectionStrings__redis"] = Redis.ConnectionString,
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            ["Worker__Concurrency"] = concurrency.ToString(CultureInfo.InvariantCulture),
            ["Simulator__Latency"] = latency.ToString("c", CultureInfo.InvariantCulture),
            ["Simulator__FailureRate"] = "0",
            ["Simulator__PermanentFailureRate"] = "0",
        };
        foreach (var (name, value) in extra ?? new Dictionary<string, string>())
        {
            environment[name] = value;
        }

        return BenchmarkProcess.Start(WorkerAssembly, WithOverrides(environment, WorkerOverridePrefix));
    }

    /// <summary>
    /// Adds the experiment settings given as environment variables with <paramref name="prefix"/>:
    /// ORCHESTRATOR_BENCH_WORKER_Logging__LogLevel__Default=Warning reaches the worker as Logging__LogLevel__Default.
    /// </summary>
    public static Dictionary<string, string> WithOverrides(Dictionary<string, string> environment, string prefix)
    {
        foreach (System.Collections.DictionaryEntry variable in Environment.GetEnvironmentVariables())
        {
            if (variable.Key is string name && name.StartsWith(prefix, StringComparison.Ordinal))
            {
                environment[name[prefix.Length..]] = (string)variable.Value!;
            }
        }

        return environment;
    }

    /// <summary>Submits <paramref name="count"/> jobs through <see cref="JobStore.SubmitAsync"/>, up to 256 at a time.</summary>
    public async Task<string[]> SeedAsync(int count, IReadOnlyDictionary<string, string>? metadata = null, int tenants = 1)
    {
        var ids = new string[count];
        using var gate = new SemaphoreSlim(256);
        var tasks = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            await gate.WaitAsync();
            var index = i;
            var tenant = tenants == 1 ? TenantNames.Default : $"tenant-{(i % tenants).ToString(System.Globalization.CultureInfo.InvariantCulture)}";
            tasks.Add(SubmitOneAsync(metadata, tenant).ContinueWith(t =>
            {
                gate.Release();
                ids[index] = t.Result;
            }, TaskScheduler.Default));
        }

        await Task.WhenAll(tasks);
        return ids;
    }

    /// <summary>One job, exactly as the API would create it (createdAt stamped by Redis, 5 attempts, 7 days' retention).</summary>
    public async Task<string> SubmitOneAsync(IReadOnlyDictionary<string, string>? metadata = null, string tenant = TenantNames.Default)
    {
        var id = JobIds.New();
        var job = new NewJob(id, new JobRequest($"benchmark prompt {id}", Metadata: metadata), MaxAttempts: 5, TimeSpan.FromDays(7)) { Tenant = tenant };
        var result = await Store.SubmitAsync(job, idempotency: null);
        return result.JobId;
    }
}

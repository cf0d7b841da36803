using System.Globalization;
using Orchestrator.Benchmarks.Infrastructure;
using Orchestrator.Jobs;
using Orchestrator.Testing;
using StackExchange.Redis;

namespace Orchestrator.Benchmarks.Scenarios;

/// <summary>
/// S2C (issue 18): S2's drain on a local Redis Cluster of 3 masters (no replicas, no persistence),
/// with <c>Jobs:Partitions</c> 1 (every job on the master of <c>{orch}</c>) and 6 (two partitions
/// per master, placed with <see cref="RedisCluster.PlaceSlotsAsync"/>): 20,000 pre-enqueued jobs
/// drained by one real worker process at concurrency 64 with a no-op LLM, after 5,000 unmeasured
/// (the worker paused while the measured jobs are seeded, as S2). Reports jobs/s and, per master,
/// the share of jobs it served and its Redis CPU per job it served — the figure a capacity table
/// needs (a master's ceiling is one core: 10⁶ µs / that CPU per job).
/// </summary>
internal sealed class ClusterDrain(int jobs = 20_000) : IScenario
{
    private const int WarmUpJobs = 5_000;
    private const int Masters = 3;
    private static readonly int[] Variants = [1, 6];

    public string Id => "S2C";

    public string Description => $"drain {jobs:N0} jobs on a 3-master Redis Cluster, 1 and 6 partitions, worker concurrency 64";

    public async Task<IReadOnlyList<ScenarioResult>> RunAsync(BenchmarkContext context)
    {
        var results = new List<ScenarioResult>();
        foreach (var partitions in Variants)
        {
            results.Add(await RunAsync(context, partitions));
        }

        return results;
    }

    /// <summary>A 3-master cluster (no replicas, no persistence) with <paramref name="partitions"/> placed one per master in turn.</summary>
    internal static async Task<(RedisCluster Cluster, RedisKeys Keys)> StartClusterAsync(int partitions)
    {
        var cluster = await RedisCluster.StartAsync(new RedisClusterOptions { Masters = Masters, AppendOnly = false });
        var keys = new RedisKeys(partitions: partitions);
        if (partitions > 1)
        {
            await cluster.PlaceSlotsAsync([.. keys.All.Select(k => k.Stream)]);
        }

        return (cluster, keys);
    }

    /// <summary>The worker's settings on the cluster: no-op or <paramref name="latency"/> LLM, no failures.</summary>
    internal static Dictionary<string, string> WorkerEnvironment(RedisCluster cluster, int partitions, int concurrency, TimeSpan latency) => new(StringComparer.Ordinal)
    {
        ["ConnectionStrings__redis"] = cluster.ConnectionString,
        ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
        ["Worker__Concurrency"] = concurrency.ToString(CultureInfo.InvariantCulture),
        ["Simulator__Latency"] = latency.ToString("c", CultureInfo.InvariantCulture),
        ["Simulator__FailureRate"] = "0",
        ["Simulator__PermanentFailureRate"] = "0",
        ["Jobs__Partitions"] = partitions.ToString(CultureInfo.InvariantCulture),
    };

    private async Task<ScenarioResult> RunAsync(BenchmarkContext context, int partitions)
    {
        var (cluster, keys) = await StartClusterAsync(partitions);
        await using var _ = cluster;
        await using var connection = await cluster.ConnectAsync();
        var store = new JobStore(connection, keys);
        var masters = await cluster.MastersAsync();
        var environment = WorkerEnvironment(cluster, partitions, concurrency: 64, TimeSpan.Zero);
        string[] ids;
        TimeSpan?[] cpu;
        await using (var worker = BenchmarkProcess.Start(context.WorkerAssembly, BenchmarkContext.WithOverrides(environment, BenchmarkContext.WorkerOverridePrefix)))
        {
            await SeedAsync(store, WarmUpJobs);
            await WaitUntilDrainedAsync(store, worker);
            worker.Pause();
            ids = await SeedAsync(store, jobs);
            var before = masters.Select(m => ProcessCpu.Of(m.ProcessId)).ToArray();
            worker.Resume();
            await WaitUntilDrainedAsync(store, worker);
            cpu = [.. masters.Select((m, i) => ProcessCpu.Of(m.ProcessId) - before[i])];
        }

        var timings = await ReadTimingsAsync(connection, keys, ids);
        var extras = new Dictionary<string, double>(StringComparer.Ordinal);
        var masterOfPartition = new RedisServer[partitions];
        for (var p = 0; p < partitions; p++)
        {
            masterOfPartition[p] = await cluster.MasterOfAsync(keys.For(p).Stream);
        }

        for (var i = 0; i < masters.Count; i++)
        {
            var served = ids.Count(id => masterOfPartition[JobPartitions.Of(id, partitions)] == masters[i]);

            extras[$"master{i}_job_share"] = served / (double)jobs;
            extras[$"master{i}_redis_cpu_us_per_job"] = (cpu[i]?.TotalMicroseconds ?? double.NaN) / jobs;
            extras[$"master{i}_redis_cpu_us_per_own_job"] = served == 0 ? 0 : (cpu[i]?.TotalMicroseconds ?? double.NaN) / served;
        }

        extras["redis_cpu_us_per_job_all_masters"] = cpu.Sum(c => c?.TotalMicroseconds ?? double.NaN) / jobs;
        return new ScenarioResult(Id, $"partitions={partitions.ToString(CultureInfo.InvariantCulture)}",
            JobTiming.Throughput(timings), null, null, Baseline.Drain, extras,
            Checks: new Dictionary<string, double> { ["not_completed"] = timings.Count(t => t.Status != "completed") });
    }

    internal static async Task<string[]> SeedAsync(JobStore store, int count)
    {
        var ids = new string[count];
        for (var start = 0; start < count; start += 256)
        {
            var chunk = Enumerable.Range(start, Math.Min(256, count - start)).ToArray();
            await Task.WhenAll(chunk.Select(async i =>
            {
                var id = JobIds.New();
                var job = new NewJob(id, new JobRequest($"benchmark prompt {id}"), MaxAttempts: 5, TimeSpan.FromDays(7));
                ids[i] = (await store.SubmitAsync(job, idempotency: null)).JobId;
            }));
        }

        return ids;
    }

    internal static Task WaitUntilDrainedAsync(JobStore store, ChildProcess worker) =>
        BenchmarkContext.WaitUntilDrainedAsync(store, worker, TimeSpan.FromMinutes(5));

    internal static async Task<IReadOnlyList<JobTiming>> ReadTimingsAsync(IConnectionMultiplexer connection, RedisKeys keys, IReadOnlyList<string> ids)
    {
        var db = connection.GetDatabase();
        var timings = new List<JobTiming>(ids.Count);
        RedisValue[] fields = ["status", "attempts", "createdAt", "firstAttemptAt", "completedAt"];
        foreach (var chunk in ids.Chunk(1000))
        {
            var values = await Task.WhenAll(chunk.Select(id => db.HashGetAsync(keys.Job(id), fields)));
            for (var i = 0; i < chunk.Length; i++)
            {
                var v = values[i];
                timings.Add(new JobTiming(chunk[i], v[0], (int?)v[1] ?? 0, (long?)v[2] ?? 0, (long?)v[3], (long?)v[4], []));
            }
        }

        return timings;
    }
}

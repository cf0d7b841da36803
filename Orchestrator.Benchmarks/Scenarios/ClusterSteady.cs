using System.Diagnostics;
using System.Globalization;
using Orchestrator.Benchmarks.Infrastructure;
using Orchestrator.Jobs;
using Orchestrator.Testing;

namespace Orchestrator.Benchmarks.Scenarios;

/// <summary>
/// S3C (issue 18): S3 on the 3-master Redis Cluster of <see cref="ClusterDrain"/>, with
/// <c>Jobs:Partitions</c> 1 and 6: one worker, 100 ms LLM, concurrency 500 (ideal 5,000 jobs/s).
/// After 5,000 unmeasured jobs (warm-up), a burst of 5,000 pre-enqueued jobs (the worker paused
/// while they are seeded) as a share of the ideal, then 5,000 jobs submitted at a steady 500/s:
/// p50/p99 of submit → complete from the jobs' own times (Redis clocks: each master's own, so
/// with 6 partitions a job's times are all from its own master).
/// </summary>
internal sealed class ClusterSteady : IScenario
{
    private const int Jobs = SteadyLatency.Jobs;
    private static readonly int[] Variants = [1, 6];

    public string Id => "S3C";

    public string Description => $"{Jobs:N0} jobs, LLM {SteadyLatency.Latency.TotalMilliseconds:0} ms, concurrency {SteadyLatency.Concurrency} on a 3-master Redis Cluster, 1 and 6 partitions; burst, then {SteadyLatency.SteadyRate} jobs/s steady";

    public async Task<IReadOnlyList<ScenarioResult>> RunAsync(BenchmarkContext context)
    {
        var results = new List<ScenarioResult>();
        foreach (var partitions in Variants)
        {
            results.AddRange(await RunAsync(context, partitions));
        }

        return results;
    }

    private async Task<IReadOnlyList<ScenarioResult>> RunAsync(BenchmarkContext context, int partitions)
    {
        var (cluster, keys) = await ClusterDrain.StartClusterAsync(partitions);
        await using var _ = cluster;
        await using var connection = await cluster.ConnectAsync();
        var store = new JobStore(connection, keys);
        var environment = ClusterDrain.WorkerEnvironment(cluster, partitions, SteadyLatency.Concurrency, SteadyLatency.Latency);
        await using var worker = BenchmarkProcess.Start(context.WorkerAssembly, BenchmarkContext.WithOverrides(environment, BenchmarkContext.WorkerOverridePrefix));

        await ClusterDrain.SeedAsync(store, Jobs);
        await ClusterDrain.WaitUntilDrainedAsync(store, worker);

        worker.Pause();
        var burstIds = await ClusterDrain.SeedAsync(store, Jobs);
        worker.Resume();
        await ClusterDrain.WaitUntilDrainedAsync(store, worker);
        var burst = await ClusterDrain.ReadTimingsAsync(connection, keys, burstIds);
        var burstRate = JobTiming.Throughput(burst);

        // Steady: job i submitted at i / rate seconds, without waiting for answers.
        var submissions = new List<Task<string>>(Jobs);
        var clock = Stopwatch.StartNew();
        while (submissions.Count < Jobs)
        {
            var due = Math.Min(Jobs, (int)(clock.Elapsed.TotalSeconds * SteadyLatency.SteadyRate) + 1);
            while (submissions.Count < due)
            {
                var id = JobIds.New();
                var job = new NewJob(id, new JobRequest($"benchmark prompt {id}"), MaxAttempts: 5, TimeSpan.FromDays(7));
                submissions.Add(store.SubmitAsync(job, idempotency: null).ContinueWith(t => t.Result.JobId, TaskScheduler.Default));
            }

            await Task.Delay(1);
        }

        var steadyIds = await Task.WhenAll(submissions);
        var offered = Jobs / clock.Elapsed.TotalSeconds;
        await ClusterDrain.WaitUntilDrainedAsync(store, worker);
        var steady = await ClusterDrain.ReadTimingsAsync(connection, keys, steadyIds);
        var latencies = steady.Where(t => t.CompletedAt is not null).Select(t => (double)(t.CompletedAt!.Value - t.CreatedAt)).ToArray();

        var variant = $"partitions={partitions.ToString(CultureInfo.InvariantCulture)}";
        return
        [
            new ScenarioResult(Id, $"{variant},burst", burstRate, null, null, Baseline.Drain,
                Extras: new Dictionary<string, double> { ["share_of_ideal"] = burstRate / SteadyLatency.Ideal },
                Checks: new Dictionary<string, double> { ["not_completed"] = burst.Count(t => t.Status != "completed") }),
            new ScenarioResult(Id, $"{variant},steady-500/s", null, Percentile.Of(latencies, 50), Percentile.Of(latencies, 99), Baseline.None,
                Extras: new Dictionary<string, double>
                {
                    ["offered_jobs_per_s"] = offered,
                    ["p99_overhead_ms"] = Percentile.Of(latencies, 99) - SteadyLatency.Latency.TotalMilliseconds,
                    ["max_ms"] = latencies.Max(),
                },
                Checks: new Dictionary<string, double> { ["not_completed"] = steady.Count(t => t.Status != "completed") }),
        ];
    }
}

using System.Diagnostics;
using Orchestrator.Benchmarks.Infrastructure;
using Orchestrator.Testing;

namespace Orchestrator.Benchmarks.Scenarios;

/// <summary>
/// S3: LLM latency 100 ms, worker concurrency 500, so the ideal is 5,000 jobs/s.
/// Burst: 5,000 pre-enqueued jobs for a warm worker ("burst", the S3 figure), and the same for the
/// worker's first burst right after it started ("burst-cold", JIT included); jobs/s as a share of
/// the ideal, and the worker's peak RSS while it holds up to 500 jobs (during the cold burst). Steady: the same worker, 5,000 jobs submitted at a steady
/// 500 jobs/s; p50/p99 of submit → complete (the job's completedAt − createdAt).
/// </summary>
internal sealed class SteadyLatency : IScenario
{
    public const int Jobs = 5_000;
    public const int Concurrency = 500;
    public const int SteadyRate = 500;
    public static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(100);

    public string Id => "S3";

    public string Description => $"{Jobs:N0} jobs, LLM {Latency.TotalMilliseconds:0} ms, concurrency {Concurrency}; then {SteadyRate} jobs/s steady";

    public static double Ideal => Concurrency / Latency.TotalSeconds;

    public async Task<IReadOnlyList<ScenarioResult>> RunAsync(BenchmarkContext context)
    {
        await context.FlushAsync();
        var burstIds = await context.SeedAsync(Jobs);
        await using var worker = context.StartWorker(Concurrency, Latency);

        double peakRss = 0;
        long peakPending = 0;
        await context.WaitUntilDrainedAsync(worker, TimeSpan.FromMinutes(2), () =>
        {
            // /proc read and one XPENDING summary (O(1)) every 20 ms.
            peakRss = Math.Max(peakRss, worker.ResidentMiB() ?? 0);
            try
            {
                var pending = (StackExchange.Redis.RedisResult[])context.Db.Execute("XPENDING", context.Keys.Stream, "workers")!;
                peakPending = Math.Max(peakPending, (long)pending[0]);
            }
            catch (StackExchange.Redis.RedisServerException)
            {
                // NOGROUP: the worker has not created the consumer group yet.
            }
        });
        var burst = await JobTiming.ReadAsync(context, burstIds, withHistory: false);
        var burstRate = JobTiming.Throughput(burst);

        // Steady phase: submit on a schedule (job i at i / rate seconds), without waiting for answers.
        var submissions = new List<Task<string>>(Jobs);
        // How long each submission took to be acknowledged by Redis (the client's own share of the tail).
        var acknowledged = new double[Jobs];
        var clock = Stopwatch.StartNew();
        while (submissions.Count < Jobs)
        {
            var due = Math.Min(Jobs, (int)(clock.Elapsed.TotalSeconds * SteadyRate) + 1);
            while (submissions.Count < due)
            {
                var index = submissions.Count;
                var sent = Stopwatch.GetTimestamp();
                submissions.Add(context.SubmitOneAsync().ContinueWith(t =>
                {
                    acknowledged[index] = Stopwatch.GetElapsedTime(sent).TotalMilliseconds;
                    return t.Result;
                }, TaskScheduler.Default));
            }

            await Task.Delay(1);
        }

        var steadyIds = await Task.WhenAll(submissions);
        var offered = Jobs / clock.Elapsed.TotalSeconds;
        await context.WaitUntilDrainedAsync(worker, TimeSpan.FromMinutes(2));
        var steady = await JobTiming.ReadAsync(context, steadyIds, withHistory: false);

        // Warm burst: the same 5,000 jobs for a worker that has already run 10,000 (JIT tiered up,
        // pools and timers warm), so the figure is the steady throughput and not mostly start-up.
        // The worker is paused (SIGSTOP; it holds no job then) while they are seeded, so all are
        // waiting when it resumes, as in the cold burst.
        worker.Pause();
        var warmIds = await context.SeedAsync(Jobs);
        var meter = CpuPerJob.Start(worker.Pid, context.Redis.ProcessId);
        worker.Resume();
        await context.WaitUntilDrainedAsync(worker, TimeSpan.FromMinutes(2));
        var warmCpu = meter.Stop(Jobs);
        var warm = await JobTiming.ReadAsync(context, warmIds, withHistory: false);
        var warmRate = JobTiming.Throughput(warm);

        var warmDone = warm.Where(t => t.CompletedAt is not null && t.FirstAttemptAt is not null).ToArray();
        var warmRuns = warmDone.Select(t => (double)(t.CompletedAt!.Value - t.FirstAttemptAt!.Value)).ToArray();
        var warmStarts = warmDone.Select(t => (double)t.FirstAttemptAt!.Value).Order().ToArray();

        var done = steady.Where(t => t.CompletedAt is not null && t.FirstAttemptAt is not null).ToArray();
        var latencies = done.Select(t => (double)(t.CompletedAt!.Value - t.CreatedAt)).ToArray();
        // Where the tail is: waiting to be picked up (submit → attempt recorded), or the call and its write.
        var pickups = done.Select(t => (double)(t.FirstAttemptAt!.Value - t.CreatedAt)).ToArray();
        var runs = done.Select(t => (double)(t.CompletedAt!.Value - t.FirstAttemptAt!.Value)).ToArray();

        return
        [
            // The S3 figure: measured after warm-up, as benchmarks are.
            new ScenarioResult(Id, "burst", warmRate, null, null, Baseline.Drain,
                Extras: new Dictionary<string, double>(warmCpu)
                {
                    ["share_of_ideal"] = warmRate / Ideal,
                    // Where a missing share goes: into the attempts (longer than the call) or between them.
                    ["attempt_p50_ms"] = Percentile.Of(warmRuns, 50),
                    ["attempt_p99_ms"] = Percentile.Of(warmRuns, 99),
                    ["slots_busy_share"] = warmRuns.Sum() / (Concurrency * (Jobs / warmRate) * 1000),
                    ["first_500_started_ms"] = warmStarts.Length >= Concurrency ? warmStarts[Concurrency - 1] - warmStarts[0] : double.NaN,
                },
                Checks: new Dictionary<string, double> { ["not_completed"] = warm.Count(t => t.Status != "completed") }),
            new ScenarioResult(Id, "burst-cold", burstRate, null, null, Baseline.Drain,
                Extras: new Dictionary<string, double>
                {
                    ["share_of_ideal"] = burstRate / Ideal,
                    ["worker_rss_mb"] = peakRss,
                    ["peak_in_flight"] = peakPending,
                },
                Checks: new Dictionary<string, double> { ["not_completed"] = burst.Count(t => t.Status != "completed") }),
            new ScenarioResult(Id, "steady-500/s", null, Percentile.Of(latencies, 50), Percentile.Of(latencies, 99), Baseline.None,
                Extras: new Dictionary<string, double>
                {
                    ["offered_jobs_per_s"] = offered,
                    ["p99_overhead_ms"] = Percentile.Of(latencies, 99) - Latency.TotalMilliseconds,
                    ["max_ms"] = latencies.Max(),
                    ["pickup_p99_ms"] = Percentile.Of(pickups, 99),
                    ["run_p99_ms"] = Percentile.Of(runs, 99),
                    ["submit_p99_ms"] = Percentile.Of(acknowledged, 99),
                },
                Checks: new Dictionary<string, double> { ["not_completed"] = steady.Count(t => t.Status != "completed") }),
        ];
    }
}

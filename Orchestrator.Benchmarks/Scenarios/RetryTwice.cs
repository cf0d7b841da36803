using Orchestrator.Benchmarks.Infrastructure;
using Orchestrator.Jobs;

namespace Orchestrator.Benchmarks.Scenarios;

/// <summary>
/// S4: 2,000 jobs whose first two attempts fail transiently (simulator hint), base delay 10 ms, no
/// jitter, worker concurrency 64, the deployment's circuit breaker kept closed. Every job is then checked: completed, exactly one succeeded
/// attempt in its history, three attempts. The worker first runs 2,000 such jobs unmeasured (JIT,
/// pools; BullMQ's S4 worker warms up too), then is paused (SIGSTOP) while the measured ones are seeded.
/// </summary>
internal sealed class RetryTwice : IScenario
{
    public const int Jobs = 2_000;
    public const int Concurrency = 64;

    public string Id => "S4";

    public string Description => $"{Jobs:N0} jobs failing twice then succeeding, base delay 10 ms, concurrency {Concurrency}";

    public async Task<IReadOnlyList<ScenarioResult>> RunAsync(BenchmarkContext context)
    {
        await context.FlushAsync();
        var failTwice = new Dictionary<string, string> { ["simulator.failFirstAttempts"] = "2" };
        string[] ids;
        Dictionary<string, double> cpu;
        await using (var worker = context.StartWorker(Concurrency, TimeSpan.Zero, new Dictionary<string, string>
        {
            ["Retry__BaseDelay"] = "00:00:00.010",
            ["Retry__UseJitter"] = "false",
            // Every job's first two calls fail by design: with the default breaker the deployment's
            // circuit opens and the jobs wait for its probes, which measures the breaker, not the
            // retry path (BullMQ's S4 has none). Kept closed: more calls than the run makes must
            // fail within the window before it may open.
            ["Llm__CircuitMinimumThroughput"] = "1000000",
        }))
        {
            await context.SeedAsync(Jobs, failTwice);
            await context.WaitUntilDrainedAsync(worker, TimeSpan.FromMinutes(2));
            worker.Pause();
            ids = await context.SeedAsync(Jobs, failTwice);
            var meter = CpuPerJob.Start(worker.Pid, context.Redis.ProcessId);
            worker.Resume();
            await context.WaitUntilDrainedAsync(worker, TimeSpan.FromMinutes(2));
            cpu = meter.Stop(Jobs);
        }

        var timings = await JobTiming.ReadAsync(context, ids, withHistory: true);
        var latencies = timings.Where(t => t.CompletedAt is not null && t.FirstAttemptAt is not null)
            .Select(t => (double)(t.CompletedAt!.Value - t.FirstAttemptAt!.Value)).ToArray();
        return
        [
            new ScenarioResult(Id, "fail-2-then-succeed", JobTiming.Throughput(timings),
                Percentile.Of(latencies, 50), Percentile.Of(latencies, 99), Baseline.Drain,
                Extras: cpu,
                Checks: new Dictionary<string, double>
                {
                    ["lost"] = timings.Count(t => t.Status != JobStatus.Completed),
                    ["completed_twice"] = timings.Count(t => t.Outcomes.Count(o => o == AttemptOutcome.Succeeded) > 1),
                    ["not_3_attempts"] = timings.Count(t => t.Attempts != 3 || t.Outcomes.Count != 3),
                }),
        ];
    }
}

using System.Diagnostics;
using System.Globalization;
using Orchestrator.Benchmarks.Infrastructure;
using Orchestrator.Jobs;
using Orchestrator.Testing;

namespace Orchestrator.Benchmarks.Scenarios;

/// <summary>
/// S2: 20,000 jobs enqueued through the real <c>JobStore.SubmitAsync</c>, then drained by the real
/// worker process with a no-op LLM (latency 0, no failures), at concurrency 1 and 64, and at 64 with
/// the jobs spread over 100 tenants (fair sharing picks between them, issue 16). The worker
/// first drains 10,000 jobs unmeasured (JIT tiered up, pools warm), then is paused (SIGSTOP; it
/// holds no job) while the measured jobs are seeded, as S3's warm burst. The rate is taken from the
/// jobs' own timestamps (first attempt start → last completion), so the completion polling is
/// outside the measured window.
/// </summary>
internal sealed class DrainNoOp(int jobs = 20_000) : IScenario
{
    private const int WarmUpJobs = 10_000;
    // Jobs of store-only's second pass, which times each transition's script.
    private const int ScriptTimeJobs = 5_000;
    private static readonly (int Concurrency, int Tenants)[] Variants = [(1, 1), (64, 1), (64, 100)];

    public string Id => "S2";

    public string Description => $"drain {jobs:N0} pre-enqueued jobs, no-op LLM, worker concurrency 1 and 64 (and 64 over 100 tenants)";

    public async Task<IReadOnlyList<ScenarioResult>> RunAsync(BenchmarkContext context)
    {
        var results = new List<ScenarioResult>();
        foreach (var (concurrency, tenants) in Variants)
        {
            await context.FlushAsync();
            Dictionary<string, double> cpu;
            string[] ids;
            Dictionary<string, long> callsBefore, callsAfter;
            await using (var worker = context.StartWorker(concurrency, TimeSpan.Zero))
            {
                await context.SeedAsync(WarmUpJobs, tenants: tenants);
                await context.WaitUntilDrainedAsync(worker, TimeSpan.FromMinutes(3));
                worker.Pause();
                ids = await context.SeedAsync(jobs, tenants: tenants);
                callsBefore = await context.RedisCallsAsync();
                var meter = CpuPerJob.Start(worker.Pid, context.Redis.ProcessId);
                worker.Resume();
                await context.WaitUntilDrainedAsync(worker, TimeSpan.FromMinutes(3));
                cpu = meter.Stop(jobs);
                callsAfter = await context.RedisCallsAsync();
            }

            double PerJob(string command) => (callsAfter.GetValueOrDefault(command) - callsBefore.GetValueOrDefault(command)) / (double)jobs;

            var timings = await JobTiming.ReadAsync(context, ids, withHistory: false);
            var variant = $"concurrency={concurrency.ToString(CultureInfo.InvariantCulture)}" + (tenants > 1 ? $",tenants={tenants.ToString(CultureInfo.InvariantCulture)}" : "");
            results.Add(new ScenarioResult(Id, variant,
                JobTiming.Throughput(timings), null, null, Baseline.Drain,
                // Costs per job while the measured jobs ran, to see where the time goes.
                Extras: new Dictionary<string, double>(cpu)
                {
                    ["redis_commands_per_job"] = callsAfter.Keys.Sum(PerJob),
                    // Client round trips: scripts (EVAL/EVALSHA) and reads; the rest run inside scripts.
                    ["scripts_per_job"] = PerJob("evalsha") + PerJob("eval"),
                    ["eval_with_source_per_job"] = PerJob("eval"),
                    ["xreadgroup_per_job"] = PerJob("xreadgroup"),
                },
                Checks: new Dictionary<string, double> { ["not_completed"] = timings.Count(t => t.Status != "completed") }));
        }

        results.Add(await StoreOnlyAsync(context));
        return results;
    }

    /// <summary>
    /// The ceiling of the job model itself: the worker's Redis transitions (read 64, claim them in one
    /// <c>claim.lua</c> call with the first attempt started, complete them in one
    /// <c>finish-attempt.lua</c> call), driven one batch at a time by a bare loop, as BASE drives its
    /// two plain commands. No worker process: what this misses of 0.8 × BASE is Redis work per job.
    /// 2,000 jobs warm the loop up first (JIT, script cache), unmeasured. A second pass of 5,000
    /// jobs then reads Redis's own script time around each call: what each transition costs it.
    /// </summary>
    private async Task<ScenarioResult> StoreOnlyAsync(BenchmarkContext context)
    {
        const int WarmUp = 2_000;
        await context.FlushAsync();
        await context.SeedAsync(WarmUp + jobs);
        await context.Store.EnsureConsumerGroupAsync();
        var result = new JobResult("ok", "bench", new TokenUsage(1, 1));
        await DrainAsync(WarmUp);
        var cpu = CpuPerJob.Start(("redis", context.Redis.ProcessId), ("client", Environment.ProcessId));
        var stopwatch = Stopwatch.StartNew();
        var drained = await DrainAsync(jobs);
        var rate = drained / stopwatch.Elapsed.TotalSeconds;
        var extras = cpu.Stop(jobs);

        // Then each transition's own script time, from Redis's counters read around every call (a
        // second, unmeasured-for-rate pass, as the reads would slow the first one down).
        await context.SeedAsync(ScriptTimeJobs);
        var scriptTime = new double[3];
        await DrainAsync(ScriptTimeJobs, scriptTime);
        extras["dispatch_script_us_per_job"] = scriptTime[0] / ScriptTimeJobs;
        extras["claim_script_us_per_job"] = scriptTime[1] / ScriptTimeJobs;
        extras["finish_script_us_per_job"] = scriptTime[2] / ScriptTimeJobs;
        return new ScenarioResult(Id, "store-only", rate, null, null, Baseline.Drain,
            Extras: extras,
            Checks: new Dictionary<string, double> { ["not_completed"] = jobs - drained });

        // scriptTime: null, or where to add each transition's script µs (dispatch, claim, finish).
        async Task<int> DrainAsync(int count, double[]? scriptTime = null)
        {
            var completed = 0;
            while (completed < count)
            {
                var before = await ScriptMicrosecondsAsync();
                var deliveries = await context.Store.ReadNewAsync("store-only", Math.Min(64, count - completed), TimeSpan.FromMilliseconds(1));
                if (deliveries.Count == 0)
                {
                    break;
                }

                var dispatched = await ScriptMicrosecondsAsync();
                var claims = await context.Store.ClaimManyAsync(deliveries, "store-only", startAttempt: true);
                var claimed = await ScriptMicrosecondsAsync();
                var finished = await context.Store.FinishAttemptsAsync([.. claims.Select(c => AttemptFinish.Completed(c.Lease, c.StartedAttempt, result))]);
                if (scriptTime is not null)
                {
                    (scriptTime[0], scriptTime[1], scriptTime[2]) = (scriptTime[0] + dispatched - before, scriptTime[1] + claimed - dispatched,
                        scriptTime[2] + await ScriptMicrosecondsAsync() - claimed);
                }

                completed += finished.Count(f => f == FinishReply.Recorded);
            }

            return completed;

            async Task<long> ScriptMicrosecondsAsync() =>
                scriptTime is null ? 0 : (await context.RedisMicrosecondsAsync()).GetValueOrDefault("evalsha");
        }
    }
}

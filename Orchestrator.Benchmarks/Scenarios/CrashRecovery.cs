using System.Globalization;
using Orchestrator.Benchmarks.Infrastructure;
using Orchestrator.Jobs;

namespace Orchestrator.Benchmarks.Scenarios;

/// <summary>
/// S5: 1,000 jobs of 200 ms on a worker (concurrency 32, the default; lease 5 s). Half-way the
/// worker is killed with SIGKILL and another is started. Every job must complete exactly once;
/// recovery is measured from the kill to the first and the last reclaimed job's completion and to the last job's.
/// </summary>
internal sealed class CrashRecovery : IScenario
{
    public const int Jobs = 1_000;
    public const int Concurrency = 32;
    public static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(200);
    public static readonly TimeSpan LeaseTimeout = TimeSpan.FromSeconds(5);

    public string Id => "S5";

    public string Description => $"{Jobs:N0} jobs of {Latency.TotalMilliseconds:0} ms, SIGKILL the worker half-way, start another (lease {LeaseTimeout.TotalSeconds:0} s)";

    public async Task<IReadOnlyList<ScenarioResult>> RunAsync(BenchmarkContext context)
    {
        await context.FlushAsync();
        var ids = await context.SeedAsync(Jobs);
        var settings = new Dictionary<string, string>
        {
            ["Worker__LeaseTimeout"] = LeaseTimeout.ToString("c", CultureInfo.InvariantCulture),
        };

        long killedAt;
        await using (var first = context.StartWorker(Concurrency, Latency, settings))
        {
            while (await context.UnfinishedAsync() > Jobs / 2)
            {
                if (first.HasExited)
                {
                    throw new InvalidOperationException($"The worker exited early:{Environment.NewLine}{first.Tail()}");
                }

                await Task.Delay(10);
            }

            killedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            await first.KillAsync();
        }

        await using (var second = context.StartWorker(Concurrency, Latency, settings))
        {
            await context.WaitUntilDrainedAsync(second, TimeSpan.FromMinutes(2));
        }

        var timings = await JobTiming.ReadAsync(context, ids, withHistory: true);
        var reclaimed = timings.Where(t => t.Outcomes.Contains(AttemptOutcome.WorkerLost)).ToArray();
        var lastDone = timings.Max(t => t.CompletedAt ?? 0);
        var firstReclaimedDone = reclaimed.Length == 0 ? (long?)null : reclaimed.Min(t => t.CompletedAt ?? long.MaxValue);
        var lastReclaimedDone = reclaimed.Length == 0 ? (long?)null : reclaimed.Max(t => t.CompletedAt ?? long.MaxValue);
        return
        [
            new ScenarioResult(Id, "kill-9-half-way", JobTiming.Throughput(timings), null, null, Baseline.None,
                Extras: new Dictionary<string, double>
                {
                    ["recovery_all_s"] = (lastDone - killedAt) / 1000.0,
                    ["recovery_first_reclaimed_s"] = firstReclaimedDone is { } done ? (done - killedAt) / 1000.0 : double.NaN,
                    // The dead worker's jobs all done again; recovery_all_s also waits for the backlog it never started.
                    ["recovery_last_reclaimed_s"] = lastReclaimedDone is { } last ? (last - killedAt) / 1000.0 : double.NaN,
                    ["reclaimed"] = reclaimed.Length,
                    ["lease_timeout_s"] = LeaseTimeout.TotalSeconds,
                },
                Checks: new Dictionary<string, double>
                {
                    ["lost"] = timings.Count(t => t.Status != JobStatus.Completed),
                    ["completed_twice"] = timings.Count(t => t.Outcomes.Count(o => o == AttemptOutcome.Succeeded) > 1),
                }),
        ];
    }
}

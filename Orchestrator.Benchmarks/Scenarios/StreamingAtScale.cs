using System.Globalization;
using Orchestrator.Benchmarks.Infrastructure;

namespace Orchestrator.Benchmarks.Scenarios;

/// <summary>
/// S6 (issue 17), LLM-shaped traffic: 10,000 jobs in flight on one worker process, each a 2 s
/// simulated call that streams 100 completion tokens (1 s to the first token, then 100 tokens at
/// 100 a second, in the simulator's 8 chunks; the worker writes them to the job's events every
/// <c>Worker:DeltaInterval</c>). The ideal is 10,000 / 2 s = 5,000 jobs/s. Two warm-up waves of
/// 10,000 jobs first (JIT tiered up, pools, the heap grown to 10,000 calls), then the worker is paused
/// (SIGSTOP) while the 20,000 measured jobs are seeded (two waves), as S3's warm burst. Reported:
/// the share of the ideal (first attempt started → last completion, from the jobs' timestamps), the
/// worker's resident memory at its peak (<c>VmHWM</c>, warm-up included), CPU per job of the worker
/// and of Redis, how long the first 10,000 took to start, the attempts' own duration p50/p99, and
/// the most jobs running at once (from the same timestamps). Runs only when named: about 30–60 s.
/// </summary>
internal sealed class StreamingAtScale : IScenario
{
    public const int Concurrency = 10_000;
    public const int Jobs = 20_000;
    public const int CompletionTokens = 100;
    public const double TokensPerSecond = 100;
    public static readonly TimeSpan FirstToken = TimeSpan.FromSeconds(1);

    public string Id => "S6";

    public string Description => $"{Jobs:N0} jobs, {Concurrency:N0} in flight, each a {Call.TotalSeconds:0} s call streaming {CompletionTokens} tokens";

    /// <summary>One call: the wait for the first token, then the tokens at their rate.</summary>
    public static TimeSpan Call => FirstToken + TimeSpan.FromSeconds(CompletionTokens / TokensPerSecond);

    public static double Ideal => Concurrency / Call.TotalSeconds;

    public async Task<IReadOnlyList<ScenarioResult>> RunAsync(BenchmarkContext context)
    {
        await context.FlushAsync();
        await using var worker = context.StartWorker(Concurrency, FirstToken, new Dictionary<string, string>
        {
            ["Simulator__TokensPerSecond"] = TokensPerSecond.ToString(CultureInfo.InvariantCulture),
            ["Simulator__CompletionTokens"] = CompletionTokens.ToString(CultureInfo.InvariantCulture),
        });
        await context.SeedAsync(Jobs);
        await context.WaitUntilDrainedAsync(worker, TimeSpan.FromMinutes(2));

        worker.Pause();
        var ids = await context.SeedAsync(Jobs);
        var cpu = CpuPerJob.Start(worker.Pid, context.Redis.ProcessId);
        worker.Resume();
        double peakRss = 0;
        await context.WaitUntilDrainedAsync(worker, TimeSpan.FromMinutes(2), () => peakRss = Math.Max(peakRss, worker.ResidentMiB() ?? 0));
        var perJob = cpu.Stop(Jobs);
        var highWater = worker.PeakResidentMiB() ?? double.NaN;

        var timings = await JobTiming.ReadAsync(context, ids, withHistory: false);
        var done = timings.Where(t => t.FirstAttemptAt is not null && t.CompletedAt is not null).ToArray();
        var rate = JobTiming.Throughput(timings);
        var starts = done.Select(t => t.FirstAttemptAt!.Value).Order().ToArray();
        var runs = done.Select(t => (double)(t.CompletedAt!.Value - t.FirstAttemptAt!.Value)).ToArray();
        // The answers were as long as asked: a sample of 100 results' completion tokens.
        var wrongLength = 0;
        foreach (var id in ids.Take(100))
        {
            wrongLength += (await context.Store.GetAsync(id))?.Result?.Usage.CompletionTokens == CompletionTokens ? 0 : 1;
        }

        return
        [
            new ScenarioResult(Id, "10k-in-flight", rate, null, null, Baseline.None,
                Extras: new Dictionary<string, double>(perJob)
                {
                    ["share_of_ideal"] = rate / Ideal,
                    ["worker_peak_rss_mb"] = highWater,
                    ["worker_rss_measured_max_mb"] = peakRss,
                    // The first wave's start: 10,000 claims before the first completion frees a slot.
                    ["first_10k_started_s"] = starts.Length >= Concurrency ? (starts[Concurrency - 1] - starts[0]) / 1000.0 : double.NaN,
                    ["attempt_p50_ms"] = Percentile.Of(runs, 50),
                    ["attempt_p99_ms"] = Percentile.Of(runs, 99),
                    ["most_running"] = MostAtOnce(done),
                },
                Checks: new Dictionary<string, double>
                {
                    ["not_completed"] = timings.Count(t => t.Status != "completed"),
                    ["wrong_length_of_100_sampled"] = wrongLength,
                }),
        ];
    }

    /// <summary>The most attempts running at one time (first attempt → completion), by a sweep over the timestamps.</summary>
    private static double MostAtOnce(IReadOnlyList<JobTiming> done)
    {
        var events = done.SelectMany(t => new[] { (At: t.FirstAttemptAt!.Value, Change: 1), (At: t.CompletedAt!.Value, Change: -1) })
            .OrderBy(e => e.At).ThenBy(e => e.Change);
        int running = 0, most = 0;
        foreach (var (_, change) in events)
        {
            running += change;
            most = Math.Max(most, running);
        }

        return most;
    }
}

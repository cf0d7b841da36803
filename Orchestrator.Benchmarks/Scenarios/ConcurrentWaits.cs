using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Orchestrator.Benchmarks.Infrastructure;
using Orchestrator.Testing;

namespace Orchestrator.Benchmarks.Scenarios;

/// <summary>
/// S7 (issue 19): 10,000 concurrent <c>GET /jobs/{id}?wait=60</c> on one API process. 10,000 jobs are
/// seeded, one wait opened on each (10,000 HTTP connections, one request each: the API holds them
/// all at once), and only then the worker starts: concurrency 500 × 100 ms LLM, so the jobs complete
/// at some 4,000–5,000 a second and the API answers that many waits a second. For each job: from its
/// <c>completedAt</c> (Redis's TIME) to the answer's arrival, dated by the kernel on the client's
/// socket (<see cref="ArrivalTimedGet"/>: the load generator shares the cores and reads 10,000
/// answers late itself; when it read them is reported too). The API's resident memory before the
/// waits, with them all open, and its high-water mark.
/// </summary>
internal sealed class ConcurrentWaits : IScenario
{
    public const int Waits = 10_000;
    public const int Concurrency = 500;
    public static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(100);

    public string Id => "S7";

    public string Description => $"{Waits:N0} concurrent GET /jobs/{{id}}?wait=60 on one API; jobs complete at up to {Concurrency / Latency.TotalSeconds:N0}/s";

    public async Task<IReadOnlyList<ScenarioResult>> RunAsync(BenchmarkContext context)
    {
        RequireOpenFiles(Waits + 1_000);
        await context.FlushAsync();
        var port = LoopbackPort.Next();
        await using var api = BenchmarkProcess.Start(context.ApiAssembly, BenchmarkContext.WithOverrides(new Dictionary<string, string>
        {
            ["ConnectionStrings__redis"] = context.Redis.ConnectionString,
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}",
            ["Auth__AllowAnonymous"] = "true",
        }, BenchmarkContext.ApiOverridePrefix));
        await WaitUntilAliveAsync(api, port);

        var ids = await context.SeedAsync(Waits);
        // Warm the API's wait path (JIT) with a few waits answered at once (the jobs are still queued).
        foreach (var id in ids.Take(50))
        {
            await ArrivalTimedGet.SendAsync(port, $"/jobs/{id}?wait=0.01", null, TimeProvider.System, CancellationToken.None);
        }

        var idleRss = api.ResidentMiB() ?? double.NaN;
        var fdsBefore = OpenFiles(api.Pid);
        var opening = Stopwatch.StartNew();
        var waits = new List<Task<TimedAnswer>>(Waits);
        foreach (var id in ids)
        {
            waits.Add(ArrivalTimedGet.SendAsync(port, $"/jobs/{id}?wait=60", null, TimeProvider.System, CancellationToken.None));
            // Connect in waves: a burst of 10,000 SYNs overflows the listen backlog and costs 1 s retransmits.
            if (waits.Count % 200 == 0)
            {
                await Task.Delay(10);
            }
        }

        // All connections accepted (the API's descriptors: the count may start with a few of the
        // warm-up's connections not yet closed, so it is also done when it stops growing), then a
        // moment for their requests to be read.
        var (accepted, steadySince) = (0, opening.Elapsed);
        while (accepted < Waits && (accepted == 0 || opening.Elapsed - steadySince < TimeSpan.FromSeconds(1)) && opening.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(50);
            var now = OpenFiles(api.Pid) - fdsBefore;
            if (now != accepted)
            {
                (accepted, steadySince) = (now, opening.Elapsed);
            }
        }

        var openSeconds = opening.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(2));
        var openRss = api.ResidentMiB() ?? double.NaN;

        var apiCpuBefore = ProcessCpu.Of(api.Pid);
        await using var worker = context.StartWorker(Concurrency, Latency);
        var answers = await Task.WhenAll(waits).WaitAsync(TimeSpan.FromSeconds(120));
        var apiCpu = ProcessCpu.Of(api.Pid) - apiCpuBefore;
        var peakRss = api.PeakResidentMiB() ?? double.NaN;

        var arrived = new List<double>(Waits);
        var read = new List<double>(Waits);
        var completions = new List<DateTimeOffset>(Waits);
        var notCompleted = 0;
        foreach (var answer in answers)
        {
            using var body = JsonDocument.Parse(answer.Body);
            if (answer.Status != 200 || body.RootElement.GetProperty("status").GetString() != "completed")
            {
                notCompleted++;
                continue;
            }

            var completedAt = body.RootElement.GetProperty("completedAt").GetDateTimeOffset();
            completions.Add(completedAt);
            arrived.Add((answer.ArrivedAt - completedAt).TotalMilliseconds);
            read.Add((answer.ReadAt - completedAt).TotalMilliseconds);
        }

        var completionRate = completions.Count / Math.Max(0.001, (completions.Max() - completions.Min()).TotalSeconds);
        return
        [
            new ScenarioResult(Id, "wait-10k", null, Percentile.Of(arrived, 50), Percentile.Of(arrived, 99), Baseline.None,
                Extras: new Dictionary<string, double>
                {
                    ["max_ms"] = arrived.Count == 0 ? double.NaN : arrived.Max(),
                    ["read_p99_ms"] = Percentile.Of(read, 99),
                    ["completions_per_s"] = completionRate,
                    ["open_s"] = openSeconds,
                    ["api_rss_idle_mb"] = idleRss,
                    ["api_rss_open_mb"] = openRss,
                    ["api_rss_peak_mb"] = peakRss,
                    ["api_kib_per_wait"] = (openRss - idleRss) * 1024 / Waits,
                    ["api_cpu_us_per_answer"] = (apiCpu?.TotalMicroseconds ?? double.NaN) / Waits,
                },
                Checks: new Dictionary<string, double> { ["not_completed"] = notCompleted }),
        ];
    }

    private static void RequireOpenFiles(int needed)
    {
        var line = File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        var soft = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3];
        if (soft is not null && soft != "unlimited" && int.Parse(soft, CultureInfo.InvariantCulture) < needed)
        {
            throw new InvalidOperationException($"S7 holds {Waits:N0} connections: raise the open-files limit to {needed} or more first ('ulimit -n {needed}'; it is {soft}).");
        }
    }

    private static int OpenFiles(int pid) => Directory.GetFiles($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/fd").Length;

    private static async Task WaitUntilAliveAsync(ChildProcess api, int port)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (api.HasExited)
            {
                throw new InvalidOperationException($"The API exited:{Environment.NewLine}{api.Tail()}");
            }

            try
            {
                if ((await ArrivalTimedGet.SendAsync(port, "/alive", null, TimeProvider.System, CancellationToken.None)).Status == 200)
                {
                    return;
                }
            }
            catch (System.Net.Sockets.SocketException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"The API did not answer /alive within 60 s:{Environment.NewLine}{api.Tail()}");
    }
}

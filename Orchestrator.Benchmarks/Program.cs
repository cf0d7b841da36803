using System.Diagnostics;
using System.Globalization;
using Orchestrator.Benchmarks;
using Orchestrator.Benchmarks.Infrastructure;
using Orchestrator.Benchmarks.Scenarios;
using StackExchange.Redis;
using Orchestrator.Testing;

// dotnet run -c Release --project Orchestrator.Benchmarks [-- --scenario S2[,S3]] [--runs N] [--json]   (S6 and S7 only when named)
if (args is [HttpFloor.Argument])
{
    // S1 starts this binary again as its HTTP floor server (see HttpFloor).
    await HttpFloor.ServeAsync();
    return 0;
}

IScenario[] all = [new BaseScenario(), new EnqueueOverHttp(), new DrainNoOp(), new SteadyLatency(), new RetryTwice(), new CrashRecovery(), new StreamingAtScale(), new ConcurrentWaits(), new ClusterDrain(), new ClusterSteady()];
const string Usage = "usage: Orchestrator.Benchmarks [--scenario BASE|S1|S2|S2C|S3|S3C|S4|S5|S6|S7[,…]] [--runs N] [--json]";
var options = SuiteOptions.Parse(args);
if (options is null)
{
    Console.Error.WriteLine(Usage);
    return 2;
}

// An unknown id would otherwise select nothing, and the run would measure BASE alone as if that were asked for.
if (options.Scenarios?.Except(all.Select(s => s.Id)).Order(StringComparer.Ordinal).ToArray() is { Length: > 0 } unknown)
{
    Console.Error.WriteLine($"unknown scenario {string.Join(", ", unknown)}; the scenarios are {string.Join(", ", all.Select(s => s.Id))}");
    Console.Error.WriteLine(Usage);
    return 2;
}

// With --json, stdout carries only the JSON lines; progress and the table go to stderr.
var log = options.Json ? Console.Error : Console.Out;
// BASE always runs: every ratio is to the BASE figure of the same run. S6, S7, S2C and S3C run only when
// named: S6 takes half a minute of a worker holding 10,000 calls; S7 holds 10,000 connections, more than
// a default open-files limit allows; S2C and S3C start two Redis Clusters of its own.
var selected = all.Where(s => s.Id == "BASE" || (options.Scenarios is null ? s.Id is not ("S6" or "S7" or "S2C" or "S3C") : options.Scenarios.Contains(s.Id))).ToArray();

var machine = MachineInfo.Describe();
log.WriteLine($"Orchestrator benchmarks ({BenchmarkContext.Configuration}), {machine}; {options.Runs} run(s), median reported");
if (!BenchmarkContext.IsRelease)
{
    log.WriteLine("WARNING: not a Release build; figures are not comparable. Use 'dotnet run -c Release'.");
}

var root = RepositoryRoot();
await using var redis = await RedisServer.StartAsync();
await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
var context = new BenchmarkContext(redis, connection, root, log);
log.WriteLine($"redis-server on port {redis.Port} (no persistence); services from {Path.GetDirectoryName(context.WorkerAssembly)}");

var suite = Stopwatch.StartNew();
var runs = new List<IReadOnlyList<ScenarioResult>>();
for (var run = 1; run <= options.Runs; run++)
{
    var results = new List<ScenarioResult>();
    foreach (var scenario in selected)
    {
        var started = Stopwatch.StartNew();
        log.Write($"run {run}/{options.Runs} {scenario.Id,-4} {scenario.Description} … ");
        var figures = await scenario.RunAsync(context);
        log.WriteLine($"{started.Elapsed.TotalSeconds:0.0} s: {string.Join("; ", figures.Select(f => $"{f.Variant} {f.JobsPerSecond:0} jobs/s"))}");
        results.AddRange(figures);
    }

    var enqueue = results.Single(r => r.Key == "BASE/enqueue").JobsPerSecond;
    var drain = results.Single(r => r.Key == "BASE/drain").JobsPerSecond;
    foreach (var result in results)
    {
        result.Ratio = result.ComparedWith switch
        {
            Baseline.Enqueue => result.JobsPerSecond / enqueue,
            Baseline.Drain => result.JobsPerSecond / drain,
            _ => null,
        };
    }

    runs.Add(results);
}

var summary = Summary.Of(runs);
log.WriteLine();
log.WriteLine($"Medians of {options.Runs} run(s); suite time {suite.Elapsed.TotalSeconds:0} s; load average now {MachineInfo.LoadAverage()}");
Summary.WriteTable(log, summary);
if (options.Json)
{
    foreach (var line in summary)
    {
        Console.Out.WriteLine(Summary.ToJson(line, options.Runs));
    }
}

return 0;

static string RepositoryRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "Orchestrator.sln")))
        {
            return dir.FullName;
        }
    }

    throw new InvalidOperationException("Orchestrator.sln not found above " + AppContext.BaseDirectory);
}

/// <summary>The command line.</summary>
internal sealed record SuiteOptions(HashSet<string>? Scenarios, int Runs, bool Json)
{
    public static SuiteOptions? Parse(string[] args)
    {
        HashSet<string>? scenarios = null;
        var runs = 3;
        var json = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--scenario" when i + 1 < args.Length:
                    scenarios = [.. args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => s.ToUpperInvariant())];
                    break;
                case "--runs" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0:
                    runs = n;
                    i++;
                    break;
                case "--json":
                    json = true;
                    break;
                default:
                    return null;
            }
        }

        return new SuiteOptions(scenarios, runs, json);
    }
}

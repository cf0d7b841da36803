using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Orchestrator.Jobs;
using Orchestrator.Testing;
using StackExchange.Redis;

using Orchestrator.Client;

namespace Orchestrator.Chaos;

/// <summary>
/// One chaos run: start everything, load and faults for <c>--duration</c>, heal and drain, stop
/// everything, check the invariants, print the summary. Returns the exit code.
/// </summary>
internal sealed class ChaosRun(ChaosOptions options, TimeProvider time)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public async Task<int> RunAsync()
    {
        var ownsOutput = options.OutputPath is null;
        var output = options.OutputPath ?? Directory.CreateTempSubdirectory("orchestrator-chaos-").FullName;
        Directory.CreateDirectory(output);
        Log($"seed {options.Seed}; {options.Workers} workers, {options.Clients} clients at {options.Rate:0.#}/s for {options.Duration.TotalSeconds:0} s; " +
            $"lease {options.LeaseTimeout.TotalSeconds:0.#} s, max attempts {options.MaxAttempts}; logs in {output}");

        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(2),
            PooledConnectionLifetime = TimeSpan.FromSeconds(10),
            MaxConnectionsPerServer = 64,
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        var history = new ClientHistory();
        ChaosRedis redis;
        try
        {
            redis = await ChaosRedis.StartAsync(options, output);
        }
        catch (Exception e) when (e is InvalidOperationException or FileNotFoundException or RedisException or TimeoutException)
        {
            Log($"the run could not proceed: Redis did not start: {e.Message}");
            return 2;
        }

        await using var redisScope = redis;
        using var cluster = new ServiceCluster(options, redis, output, http);

        // If this process is stopped (Ctrl+C, a test timeout's SIGTERM), take the children with it.
        using var cleanup = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => KillAll(cluster, redis));
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => KillAll(cluster, redis));

        var summary = new List<string>();
        var results = new List<InvariantResult>();
        FaultInjector faults;
        ChaosClients clients;
        try
        {
            await cluster.StartApiAsync(StartTimeout);
            for (var i = 0; i < options.Workers; i++)
            {
                cluster.StartWorker();
            }

            Log($"{redis.Describe()}, API on {cluster.ApiPort}, {options.Workers} workers started");
            faults = new FaultInjector(options, redis, cluster, Log, time);
            using var readHttp = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2), PooledConnectionLifetime = TimeSpan.FromSeconds(10) })
            {
                BaseAddress = cluster.ApiAddress,
                Timeout = Timeout.InfiniteTimeSpan,
            };
            clients = new ChaosClients(options, cluster.ApiAddress, http, new OrchestratorClient(readHttp), history, time);

            using var stopLoad = new CancellationTokenSource(options.Duration);
            using var stopSupervising = new CancellationTokenSource();
            var supervisor = cluster.SuperviseAsync(stopSupervising.Token);
            var random = new Random(options.Seed);
            var faultLoop = faults.RunAsync(new Random(random.Next()), stopLoad.Token);
            // Keyed submissions keep retrying (as clients would) for a while after the load stops.
            var clientRun = clients.RunAsync(stopLoad.Token, time.GetUtcNow() + options.Duration + TimeSpan.FromSeconds(30));
            await faultLoop;
            Log("faults stopped; healing (resume paused workers, restore the worker count)");
            cluster.Heal();
            await clientRun;
            Log($"load stopped: {clients.Submissions} submissions, {history.Events.Count} requests");

            var drained = await DrainAsync(redis, history);
            Log(drained ? "drained: every acknowledged job is final" : $"drain timed out after {options.DrainTimeout.TotalSeconds:0} s");

            // Last looks at finished jobs before the services stop (results must still be the ones first seen).
            foreach (var id in history.Observed.Keys.Take(200).ToList())
            {
                await clients.ObserveOneAsync(id);
            }

            await stopSupervising.CancelAsync();
            await supervisor;
            var deaths = cluster.Deaths.ToList();
            var died = deaths.Where(d => !cluster.DiedOfCrashHint(d))
                .Select(d => $"{d.Name} (pid {d.Pid}) exited with {d.ExitCode} by itself, holding no crash-hint job; see its log")
                .Concat(cluster.EverStarted.Where(p => p.HasExited && !p.StoppedByOwner && deaths.All(d => d.Pid != p.Pid))
                    .Select(p => $"{p.Name} (pid {p.Pid}) exited by itself; see its log"))
                .ToList();
            var crashHintDeaths = deaths.Count(cluster.DiedOfCrashHint);
            await cluster.StopAllAsync();
            var checker = new InvariantChecker(options, history, cluster.ReportedCompletions);
            await using (var connection = await redis.ConnectAsync("abortConnect=false,syncTimeout=10000,asyncTimeout=10000"))
            {
                var store = new JobStore(connection, redis.Keys);
                results.AddRange(await checker.CheckServiceStateAsync(store, connection.GetDatabase()));
            }

            results.Add(checker.CheckAnswers());
            results.Add(new InvariantResult(7, "no API or worker process exited unless the run stopped it (a worker holding a crash-hint job excepted)",
                cluster.EverStarted.Count, died));
            await redis.StopAsync();
            cluster.Dispose();
            results.Add(InvariantChecker.CheckProcesses([.. cluster.EverStarted.Select(p => p.Pid), .. redis.StartedPids]));
            summary.Add($"redis              {(options.Cluster ? $"cluster of 3 masters + 3 replicas, {ChaosRedis.ClusterPartitions} partitions, WaitReplicas 1" : "one redis-server (AOF)")}");
            results.Sort((a, b) => a.Number.CompareTo(b.Number));

            var events = history.Events;
            var acknowledged = history.AcknowledgedJobs().Count;
            summary.Add($"jobs submitted     {clients.Submissions} (requests sent {events.Count}; keyed {events.Where(e => e.IdempotencyKey is not null).Select(e => e.IdempotencyKey).Distinct().Count()} keys)");
            summary.Add($"jobs acknowledged  {acknowledged} (202 answers {events.Count(e => e.Answer == 202)}, of them replays {events.Count(e => e.Replayed)}; deliberate re-sends {clients.DeliberateReplays})");
            summary.Add($"answers            " + string.Join(", ", events.GroupBy(e => e.Answer).OrderBy(g => g.Key)
                .Select(g => $"{(g.Key == 0 ? "no answer" : g.Key.ToString(CultureInfo.InvariantCulture))}: {g.Count()}")));
            summary.Add($"faults             {faults.Summary()}");
            summary.Add($"crash-hint deaths  {crashHintDeaths} worker(s) died holding a crash-hint job (poison rate {options.PoisonRate:0.###}, certain poison jobs {options.PoisonJobs}), restarted by the run");
            summary.Add($"worker processes   {cluster.EverStarted.Count(p => p.Name.StartsWith("worker", StringComparison.Ordinal))} started in all; stale-lease writes fenced off {cluster.StaleWritesRejected}");
            if (!drained)
            {
                summary.Add("drain              TIMED OUT");
            }
        }
        catch (Exception e) when (e is InvalidOperationException or FileNotFoundException or RedisException or TimeoutException)
        {
            Log($"the run could not proceed: {e.Message}");
            KillAll(cluster, redis);
            Log($"logs kept in {output}");
            return 2;
        }

        await history.WriteAsync(Path.Combine(output, "client-history.jsonl"));
        Console.WriteLine();
        Console.WriteLine("=== Chaos run summary ===");
        Console.WriteLine($"seed               {options.Seed}");
        Console.WriteLine($"duration           {options.Duration.TotalSeconds:0} s of faults, {_clock.Elapsed.TotalSeconds:0} s in all");
        summary.ForEach(Console.WriteLine);
        Console.WriteLine("invariants:");
        foreach (var result in results)
        {
            Console.WriteLine($"  {(result.Held ? "HELD  " : "BROKEN")} {result.Number}. {result.Title} — checked {result.Checked}, violations {result.Violations.Count}");
            foreach (var violation in result.Violations.Take(50))
            {
                Console.WriteLine($"           {violation}");
            }

            if (result.Violations.Count > 50)
            {
                Console.WriteLine($"           … and {result.Violations.Count - 50} more");
            }
        }

        var held = results.Count(r => r.Held);
        var passed = held == results.Count;
        Console.WriteLine($"CHAOS {(passed ? "PASSED" : "FAILED")}: {held}/{results.Count} invariants held");
        if (passed && ownsOutput)
        {
            TryDelete(output);
        }
        else
        {
            Console.WriteLine($"logs and client history: {output}");
        }

        return passed ? 0 : 1;
    }

    /// <summary>Waits (bounded) until every acknowledged job is completed or failed.</summary>
    private async Task<bool> DrainAsync(ChaosRedis redis, ClientHistory history)
    {
        var ids = history.AcknowledgedJobs().ToList();
        var keys = redis.Keys;
        var deadline = Stopwatch.StartNew();
        await using var connection = await redis.ConnectAsync("abortConnect=false");
        var db = connection.GetDatabase();
        var nextReport = TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                var batch = db.CreateBatch();
                var statuses = ids.Select(id => (Id: id, Status: batch.HashGetAsync(keys.Job(id), "status"))).ToList();
                batch.Execute();
                var open = new List<(string Id, string Status)>();
                foreach (var (id, status) in statuses)
                {
                    var value = (string?)await status ?? "missing";
                    if (!JobStatus.IsTerminal(value))
                    {
                        open.Add((id, value));
                    }
                }

                if (open.Count == 0)
                {
                    return true;
                }

                // What holds the drain up, so a slow one can be read from the log.
                if (deadline.Elapsed > nextReport)
                {
                    nextReport += TimeSpan.FromSeconds(10);
                    Log($"draining: {open.Count} not final (" + string.Join(", ", open.GroupBy(o => o.Status).Select(g => $"{g.Key} {g.Count()}")) +
                        "), e.g. " + string.Join(" ", open.Take(3).Select(o => o.Id)));
                }

                if (deadline.Elapsed > options.DrainTimeout)
                {
                    return false;
                }
            }
            catch (RedisException)
            {
                if (deadline.Elapsed > options.DrainTimeout)
                {
                    return false;
                }
            }

            await Task.Delay(250);
        }
    }

    private static void KillAll(ServiceCluster cluster, ChaosRedis redis)
    {
        cluster.Dispose();
        redis.Kill();
    }

    private void Log(string message) =>
        Console.WriteLine($"[chaos {_clock.Elapsed.TotalSeconds,6:0.0}s] {message}");

    private static void TryDelete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

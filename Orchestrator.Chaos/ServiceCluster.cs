using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Orchestrator.Jobs;
using Orchestrator.Testing;

namespace Orchestrator.Chaos;

/// <summary>
/// The API and worker processes of the run, started with short leases and small retry delays so
/// that faults play out within seconds. Counts the completions the workers report.
/// </summary>
internal sealed partial class ServiceCluster(ChaosOptions options, ChaosRedis redis, string logFolder, HttpClient probe) : IDisposable
{
    private readonly List<ChildProcess> _workers = [];
    private readonly List<ChildProcess> _everStarted = [];
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, string> _consumers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _diedOfCrashHint = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<ProcessDeath> _deaths = new();
    private int _workerCount;
    private int _apiCount;
    private int _staleWritesRejected;

    /// <summary>Writes or renewals of a worker whose lease had passed to another, rejected by the fence (from the workers' logs).</summary>
    public int StaleWritesRejected => _staleWritesRejected;

    public int ApiPort { get; } = LoopbackPort.Next();

    public Uri ApiAddress => new($"http://127.0.0.1:{ApiPort.ToString(CultureInfo.InvariantCulture)}");

    public ChildProcess? Api { get; private set; }

    /// <summary>Processes that exited without the run stopping them, each with what it held.</summary>
    public IReadOnlyCollection<ProcessDeath> Deaths => _deaths;

    /// <summary>"Job … completed" lines per job id, across every worker process: successful fenced completions.</summary>
    public ConcurrentDictionary<string, int> ReportedCompletions { get; } = new(StringComparer.Ordinal);

    /// <summary>Every process this cluster ever started (for the no-process-left-behind check).</summary>
    public IReadOnlyList<ChildProcess> EverStarted
    {
        get
        {
            lock (_gate)
            {
                return [.. _everStarted];
            }
        }
    }

    public IReadOnlyList<ChildProcess> Workers
    {
        get
        {
            lock (_gate)
            {
                return [.. _workers];
            }
        }
    }

    private Dictionary<string, string> CommonEnvironment() => new()
    {
        ["ConnectionStrings__redis"] = redis.ConnectionString,
        ["DOTNET_ENVIRONMENT"] = "Production",
        ["ASPNETCORE_ENVIRONMENT"] = "Production",
        ["Retry__MaxAttempts"] = options.MaxAttempts.ToString(CultureInfo.InvariantCulture),
        ["Jobs__Partitions"] = redis.Keys.Partitions.ToString(CultureInfo.InvariantCulture),
        // A cluster run: a 202 only once a replica has the job, so a master's death loses none.
        ["Redis__WaitReplicas"] = options.Cluster ? "1" : "0",
        ["Retry__BaseDelay"] = "00:00:00.200",
        ["Retry__MaxDelay"] = "00:00:02",
        ["Retry__AttemptTimeout"] = "00:00:10",
        // The per-job "completed" line (Debug) feeds the "no job completed twice" check.
        ["Logging__LogLevel__Orchestrator.Worker.Processing.JobProcessor"] = "Debug",
        ["OTEL_SDK_DISABLED"] = "true",
    };

    public async Task StartApiAsync(TimeSpan readyTimeout)
    {
        var environment = CommonEnvironment();
        environment["ASPNETCORE_URLS"] = ApiAddress.ToString().TrimEnd('/');
        // The chaos clients send no API key: they act as tenant 'default'.
        environment["Auth__AllowAnonymous"] = "true";
        var number = Interlocked.Increment(ref _apiCount);
        var api = StartService($"api-{number}", ServiceAssemblies.Api, environment, onLine: null);
        lock (_gate)
        {
            _everStarted.Add(api);
            Api = api;
        }

        await WaitReadyAsync(api, readyTimeout);
    }

    public async Task RestartApiAsync(bool kill, TimeSpan readyTimeout)
    {
        if (Api is { } api)
        {
            if (kill)
            {
                await api.KillAsync(TimeSpan.FromSeconds(10));
            }
            else
            {
                await api.StopAsync(TimeSpan.FromSeconds(10));
            }
        }

        await StartApiAsync(readyTimeout);
    }

    public ChildProcess StartWorker()
    {
        var environment = CommonEnvironment();
        environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        environment["Worker__LeaseTimeout"] = options.LeaseTimeout.ToString("c", CultureInfo.InvariantCulture);
        environment["Worker__ReclaimInterval"] = "00:00:00.500";
        environment["Worker__PollTimeout"] = "00:00:00.500";
        environment["Worker__Concurrency"] = "16";
        environment["Simulator__FailureRate"] = "0";
        environment["Simulator__Latency"] = "00:00:00.100";
        // The job mix fails some 45 % of calls on purpose, and nearly all in the drain (the jobs left
        // are the failing ones): the per-deployment circuit breaker rightly reads that as the one
        // simulated deployment failing and holds the jobs, which is not what this run examines (the
        // breaker has its own tests). It stays closed here: a ratio of 1 would still open it once 10
        // calls in a row fail, as in the drain, so no more calls than a run makes may open it. Measured
        // with the default breaker: the drain took 116 s (72 s once a failed prober waits two breaks)
        // against the 63 s allowed (docs/failure-model.md "The LLM", docs/chaos.md).
        environment["Llm__CircuitFailureRatio"] = "1";
        environment["Llm__CircuitMinimumThroughput"] = "1000000";
        // The host's shutdown timeout (whole seconds; the host reads this key, not a HostOptions section):
        // a SIGTERM (stop-worker) waits this long for running calls, then cuts them off and hands their jobs back.
        environment["shutdownTimeoutSeconds"] = "1";
        if (options.HasPoisonJobs)
        {
            environment["Simulator__AllowCrashHint"] = "true";
        }

        if (options.TenantLimit is { } limit)
        {
            environment[$"Tenants__{TenantNames.Default}__MaxConcurrency"] = limit.ToString(CultureInfo.InvariantCulture);
        }

        var number = Interlocked.Increment(ref _workerCount);
        var name = $"worker-{number}";
        var worker = StartService(name, ServiceAssemblies.Worker, environment, line => OnWorkerLine(name, line));
        lock (_gate)
        {
            _everStarted.Add(worker);
            _workers.Add(worker);
        }

        return worker;
    }

    /// <summary>Stops <paramref name="worker"/> (SIGKILL, or SIGTERM when <paramref name="graceful"/>) and starts another.</summary>
    public async Task ReplaceWorkerAsync(ChildProcess worker, bool graceful = false)
    {
        if (graceful)
        {
            await worker.StopAsync(TimeSpan.FromSeconds(10));
        }
        else
        {
            await worker.KillAsync(TimeSpan.FromSeconds(10));
        }

        lock (_gate)
        {
            _workers.Remove(worker);
        }

        StartWorker();
    }

    /// <summary>Makes sure <c>--workers</c> workers are running and none is paused (before the drain).</summary>
    public void Heal()
    {
        foreach (var worker in Workers)
        {
            worker.Resume();
            if (worker.HasExited)
            {
                lock (_gate)
                {
                    _workers.Remove(worker);
                }
            }
        }

        while (Workers.Count < options.Workers)
        {
            StartWorker();
        }
    }

    /// <summary>
    /// Until <paramref name="stop"/>: a worker or API that exits without the run stopping it is
    /// recorded in <see cref="Deaths"/> (for a worker, with the crash-hint jobs it held) and
    /// replaced, as a process supervisor (systemd, Kubernetes) would.
    /// </summary>
    public async Task SuperviseAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            foreach (var worker in Workers.Where(w => w.HasExited && !w.StoppedByOwner))
            {
                lock (_gate)
                {
                    _workers.Remove(worker);
                }

                _deaths.Enqueue(new ProcessDeath(worker.Name, worker.Pid, worker.ExitCode, await CrashHintJobsHeldAsync(worker.Name)));
                StartWorker();
            }

            if (Api is { HasExited: true, StoppedByOwner: false } api)
            {
                _deaths.Enqueue(new ProcessDeath(api.Name, api.Pid, api.ExitCode, []));
                await StartApiAsync(TimeSpan.FromSeconds(60));
            }
        }
    }

    /// <summary>
    /// The crash-hint jobs a dead worker still held: its consumer's pending stream entries whose job
    /// carries the hint. Read at once, before another worker reclaims them (a lease later).
    /// </summary>
    private async Task<IReadOnlyList<string>> CrashHintJobsHeldAsync(string worker)
    {
        if (!_consumers.TryGetValue(worker, out var consumer))
        {
            return [];
        }

        try
        {
            await using var connection = await redis.ConnectAsync("abortConnect=false,connectTimeout=2000,asyncTimeout=5000");
            var db = connection.GetDatabase();
            var store = new Orchestrator.Jobs.JobStore(connection, redis.Keys);
            var held = new List<string>();
            foreach (var partition in redis.Keys.All)
            {
                var pending = await db.StreamPendingMessagesAsync(partition.Stream, Orchestrator.Jobs.RedisKeys.ConsumerGroup, 1000, consumer);
                foreach (var entry in pending)
                {
                    var fields = await db.StreamRangeAsync(partition.Stream, entry.MessageId, entry.MessageId);
                    if (fields.FirstOrDefault().Values?.FirstOrDefault(v => v.Name == "jobId").Value is { IsNull: false } jobId
                        && await store.GetAsync(jobId!) is { } job && PoisonJobs.IsPoison(job.Request.Metadata))
                    {
                        held.Add(jobId!);
                    }
                }
            }

            return held;
        }
        catch (StackExchange.Redis.RedisException)
        {
            // Redis is being restarted by another fault: the death stays unexplained, which the checker reports.
            return [];
        }
    }

    /// <summary>Graceful stop of every service (SIGTERM, bounded, then SIGKILL).</summary>
    public async Task StopAllAsync()
    {
        var stops = EverStarted.Where(p => !p.HasExited).Select(p => p.StopAsync(TimeSpan.FromSeconds(15)));
        await Task.WhenAll(stops);
    }

    public void Dispose()
    {
        foreach (var process in EverStarted)
        {
            process.Dispose();
        }
    }

    // Only the log file keeps the output: a run's services write too much to hold in memory.
    private ChildProcess StartService(string name, string assembly, Dictionary<string, string> environment, Action<string>? onLine) =>
        ChildProcess.Start(ServiceProcess.Options(name, assembly, environment) with
        {
            LogPath = Path.Combine(logFolder, $"{name}.log"),
            OnLine = onLine,
            MaxBufferedChars = 0,
        });

    private async Task WaitReadyAsync(ChildProcess api, TimeSpan timeout)
    {
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < timeout && !api.HasExited)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                using var response = await probe.GetAsync(new Uri(ApiAddress, "/health"), cts.Token);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException($"{api.Name} was not healthy within {timeout.TotalSeconds:0} s (exited: {api.HasExited}); see its log.");
    }

    private void OnWorkerLine(string worker, string line)
    {
        if (!_consumers.ContainsKey(worker) && StartedLine().Match(line) is { Success: true } started)
        {
            _consumers[worker] = started.Groups[1].Value;
        }

        if (line.Contains(PoisonJobs.DeathMessage, StringComparison.Ordinal))
        {
            _diedOfCrashHint[worker] = true;
        }

        if (line.Contains("lease lost to another worker", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _staleWritesRejected);
        }

        var match = CompletedLine().Match(line);
        if (match.Success)
        {
            ReportedCompletions.AddOrUpdate(match.Groups[1].Value, 1, static (_, n) => n + 1);
        }
    }

    /// <summary>
    /// Whether a crash-hint job explains this death: the worker still held one (its pending entries),
    /// or said so as it died. Asked once supervision has ended, when all its output has been read.
    /// </summary>
    public bool DiedOfCrashHint(ProcessDeath death) => death.CrashHintJobs.Count > 0 || _diedOfCrashHint.ContainsKey(death.Name);

    [GeneratedRegex(@"Job (\S+) completed on attempt \d+")]
    private static partial Regex CompletedLine();

    [GeneratedRegex(@"Worker (\S+) started:")]
    private static partial Regex StartedLine();
}

/// <summary>A service process that exited without the run stopping it.</summary>
/// <param name="CrashHintJobs">For a worker: the crash-hint jobs it held when it died (a death they explain).</param>
internal sealed record ProcessDeath(string Name, int Pid, int ExitCode, IReadOnlyList<string> CrashHintJobs);

using System.Globalization;

namespace Orchestrator.Chaos;

/// <summary>The command line of the chaos run. Every duration is in seconds on the command line.</summary>
internal sealed record ChaosOptions
{
    /// <summary>How long clients submit and faults are injected. Default 60 s.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Worker processes kept running. Default 3.</summary>
    public int Workers { get; init; } = 3;

    /// <summary>Seed of every random choice of the run (job mix, replays, faults); printed so a run can be repeated.</summary>
    public int Seed { get; init; } = Random.Shared.Next();

    /// <summary>Submissions per second, all clients together. Default 20.</summary>
    public double Rate { get; init; } = 20;

    /// <summary>Concurrent submitting clients. Default 4.</summary>
    public int Clients { get; init; } = 4;

    /// <summary>Mean pause between two faults. Default 4 s (uniform from half to one and a half of it).</summary>
    public TimeSpan FaultInterval { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>Worker:LeaseTimeout given to the workers. Default 3 s.</summary>
    public TimeSpan LeaseTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Retry:MaxAttempts given to the API and workers, and checked. Default 5.</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>Longest wait, after the faults stop, for every acknowledged job to be final. Default 60 s + the lease.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(63);

    /// <summary>
    /// Also restart Redis with SIGKILL (off by default). Redis writes its append-only file before it
    /// replies (<c>everysec</c> defers only the fsync), so a killed process loses no acknowledged
    /// write and every invariant still holds; only a crash of the machine loses the last second.
    /// </summary>
    public bool RedisSigkill { get; init; }

    /// <summary>The kinds of fault injected, each in every round of the deck. Default: the CI preset's (<see cref="CiFaults"/>).</summary>
    public IReadOnlySet<Fault> Faults { get; init; } = CiFaults;

    /// <summary>
    /// Share of submissions (0…1) that carry <c>simulator.crashProcess: "true"</c>: the worker that
    /// starts such a job dies, its job must end <c>failed</c>/<c>poison-job</c>, and the run restarts
    /// the worker. Default 0.
    /// </summary>
    public double PoisonRate { get; init; }

    /// <summary>
    /// Poison jobs sent whatever the seed, besides <see cref="PoisonRate"/>'s: the first client's
    /// 10th, 20th, … job, each keyed and re-sent until accepted. Default 0.
    /// </summary>
    public int PoisonJobs { get; init; }

    /// <summary>Whether the run sends poison jobs: workers then get <c>Simulator:AllowCrashHint=true</c>.</summary>
    public bool HasPoisonJobs => PoisonRate > 0 || PoisonJobs > 0;

    /// <summary>The faults the CI preset injects: every kind of one Redis, with one poison job (<see cref="PoisonJobs"/>).</summary>
    public static readonly IReadOnlySet<Fault> CiFaults = new HashSet<Fault>(Enum.GetValues<Fault>().Where(f => f != Fault.KillMaster));

    /// <summary>The faults of a cluster run (<see cref="Cluster"/>): the services' and a master's death.</summary>
    public static readonly IReadOnlySet<Fault> ClusterFaults = new HashSet<Fault>([Fault.KillWorker, Fault.PauseWorker, Fault.RestartApi, Fault.KillMaster]);

    /// <summary>
    /// <c>--preset full</c>'s faults while the command line is read: every kind the run has, which
    /// <see cref="CiFaults"/> on one Redis or <see cref="ClusterFaults"/> decided once all is read
    /// (<c>--cluster</c> may follow the preset).
    /// </summary>
    private static readonly IReadOnlySet<Fault> FullFaults = new HashSet<Fault>(Enum.GetValues<Fault>());

    /// <summary>
    /// Run on a local Redis Cluster (3 masters, 3 replicas, <c>cluster-node-timeout</c> 2 s) with
    /// <c>Jobs:Partitions</c> 6 placed two per master and <c>Redis:WaitReplicas</c> 1; the faults
    /// are <see cref="ClusterFaults"/> (the single-Redis ones do not apply).
    /// </summary>
    public bool Cluster { get; init; }

    /// <summary>
    /// <c>Tenants:default:MaxConcurrency</c> given to the workers (the run's clients are the default
    /// tenant); null for none. Below the workers' slots, takeovers and retries meet held permits.
    /// </summary>
    public int? TenantLimit { get; init; }

    /// <summary>How long the jobs may take to become final after the load, unless <c>--drain</c> says (plus a lease).</summary>
    public static readonly TimeSpan DefaultDrain = TimeSpan.FromSeconds(60);

    /// <summary>The drain with a poison rate (<c>--poison-rate</c>, <c>--preset full</c>), unless <c>--drain</c> says (plus a lease).</summary>
    public static readonly TimeSpan PoisonRateDrain = TimeSpan.FromSeconds(180);

    /// <summary><c>--preset full</c>'s poison rate: 0.4 % of jobs.</summary>
    /// <remarks>
    /// Not CI's: each poison job kills up to four workers, each restart costs a process start, and
    /// the jobs of a group of suspects that died come back to run alone; at this rate a loaded
    /// 2-core machine does not drain the minute's backlog within the drain timeout.
    /// </remarks>
    public const double FullPoisonRate = 0.004;

    /// <summary>
    /// The CI preset's mean pause between faults: eight kinds, some lasting seconds (a pause past the
    /// lease, an API restart), must each come at least once in its 60 s.
    /// </summary>
    public static readonly TimeSpan CiFaultInterval = TimeSpan.FromSeconds(3);

    /// <summary>Folder for logs and the client history; a temporary one (deleted after a passing run) if not given.</summary>
    public string? OutputPath { get; init; }

    public const string Usage = """
        Orchestrator.Chaos: runs Redis (AOF), the API and N workers as real processes, submits jobs while
        killing, pausing and restarting them, then checks that every accepted job reached exactly one final state.

          --duration <s>        seconds of load and faults (default 60)
          --workers <n>         worker processes (default 3)
          --seed <n>            seed for every random choice (default: random, printed)
          --rate <n>            submissions per second, all clients together (default 20)
          --clients <n>         concurrent clients (default 4)
          --fault-interval <s>  mean seconds between faults (default 4)
          --lease <s>           Worker:LeaseTimeout (default 3)
          --max-attempts <n>    Retry:MaxAttempts (default 5)
          --drain <s>           longest wait for all jobs to finish after the faults stop (default 60 + lease;
                                180 + lease with a poison rate)
          --redis-sigkill       also SIGKILL Redis (the AOF is written before replies: nothing acknowledged is lost)
          --tenant-limit <n>    Tenants:default:MaxConcurrency for the workers (the clients' tenant); below the
                                workers' 16 slots each, retries and takeovers meet held permits (default: none)
          --faults <list>       comma-separated: kill-worker, pause-worker, stop-worker (SIGTERM: jobs handed back),
                                restart-api, restart-redis,
                                failover (REPLICAOF away ~2.5 s and back), client-pause (CLIENT PAUSE 3000 ALL),
                                memory-limit (maxmemory just above used memory for ~3 s) (default: the ci preset's)
          --poison-rate <x>     share of jobs (0..1) whose worker dies when it starts them (default 0)
          --poison-jobs <n>     that many such jobs whatever the seed: the first client's 10th, 20th, … (default 0)
          --out <dir>           keep logs and the client history there
          --preset ci           the CI run: --duration 60, every fault above, --poison-jobs 1, --fault-interval 3
          --preset full         --duration 60, every fault the run has (above, or with --cluster the cluster's),
                                --poison-rate 0.004, --poison-jobs 1 (default --fault-interval)
          --cluster             a local Redis Cluster (3 masters + 3 replicas, node timeout 2 s), Jobs:Partitions 6,
                                Redis:WaitReplicas 1; faults kill-worker, pause-worker, restart-api and kill-master
                                (SIGKILL a master, wait for its replica's election, start it again as a replica)
        Exit code: 0 when every invariant held, 1 when one failed, 2 on a usage or startup error.
        """;

    public static ChaosOptions Parse(string[] args)
    {
        var options = new ChaosOptions();
        var drainGiven = false;
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            double Number() => double.TryParse(Next(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) && v > 0
                ? v
                : throw new ArgumentException($"{name} needs a positive number.");
            int Integer() => int.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0
                ? v
                : throw new ArgumentException($"{name} needs a positive integer.");

            options = name switch
            {
                "--duration" => options with { Duration = TimeSpan.FromSeconds(Number()) },
                "--workers" => options with { Workers = Integer() },
                "--seed" => options with { Seed = int.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) ? s : throw new ArgumentException("--seed needs an integer.") },
                "--rate" => options with { Rate = Number() },
                "--clients" => options with { Clients = Integer() },
                "--fault-interval" => options with { FaultInterval = TimeSpan.FromSeconds(Number()) },
                "--lease" => options with { LeaseTimeout = TimeSpan.FromSeconds(Math.Max(1, Number())) },
                "--max-attempts" => options with { MaxAttempts = Integer() },
                "--drain" => SetDrain(options with { DrainTimeout = TimeSpan.FromSeconds(Number()) }),
                "--redis-sigkill" => options with { RedisSigkill = true },
                "--tenant-limit" => options with { TenantLimit = Integer() },
                "--out" => options with { OutputPath = Next() },
                "--faults" => options with { Faults = ParseFaults(Next()) },
                "--poison-rate" => options with { PoisonRate = Share(Next()) },
                "--poison-jobs" => options with { PoisonJobs = Integer() },
                "--cluster" => options with { Cluster = true },
                "--preset" => Next() switch
                {
                    "ci" => options with { Duration = TimeSpan.FromSeconds(60), Faults = CiFaults, PoisonJobs = 1, FaultInterval = CiFaultInterval },
                    "full" => options with { Duration = TimeSpan.FromSeconds(60), Faults = FullFaults, PoisonRate = FullPoisonRate, PoisonJobs = 1 },
                    var other => throw new ArgumentException($"Unknown preset '{other}'; use ci or full."),
                },
                _ => throw new ArgumentException($"Unknown option '{name}'."),
            };
        }

        if (options.Faults == FullFaults)
        {
            options = options with { Faults = options.Cluster ? ClusterFaults : CiFaults };
        }

        if (options.Cluster)
        {
            // The cluster's faults, unless --faults named some: then only ones a cluster has.
            options = options with { Faults = options.Faults == CiFaults ? ClusterFaults : options.Faults };
            if (options.Faults.Except(ClusterFaults).Any())
            {
                throw new ArgumentException($"With --cluster the faults are {string.Join(", ", ClusterFaults.Order().Select(FaultName))}.");
            }
        }
        else if (options.Faults.Contains(Fault.KillMaster))
        {
            throw new ArgumentException("kill-master needs --cluster.");
        }

        // A poison rate kills workers by the dozen in a minute (19 and 27 in two --preset full --cluster
        // runs, whose drains took ~60 s): their restarts and the suspects' runs apart outlast a 60 s drain.
        return drainGiven ? options : options with { DrainTimeout = (options.PoisonRate > 0 ? PoisonRateDrain : DefaultDrain) + options.LeaseTimeout };

        ChaosOptions SetDrain(ChaosOptions o)
        {
            drainGiven = true;
            return o;
        }

        static double Share(string text) =>
            double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v is >= 0 and <= 1
                ? v
                : throw new ArgumentException("--poison-rate needs a number from 0 to 1.");
    }

    private static HashSet<Fault> ParseFaults(string list)
    {
        var faults = new HashSet<Fault>();
        foreach (var name in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            faults.Add(Enum.GetValues<Fault>().FirstOrDefault(f => FaultName(f) == name, (Fault)(-1)) is var fault && fault >= 0
                ? fault
                : throw new ArgumentException($"Unknown fault '{name}'."));
        }

        return faults.Count > 0 ? faults : throw new ArgumentException("--faults needs at least one fault.");
    }

    /// <summary>The command-line name of a fault (<c>KillWorker</c> → <c>kill-worker</c>).</summary>
    public static string FaultName(Fault fault) =>
        string.Concat(fault.ToString().Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
}

/// <summary>The kinds of fault the run injects.</summary>
internal enum Fault
{
    /// <summary>SIGKILL a worker; a new one replaces it.</summary>
    KillWorker,

    /// <summary>SIGSTOP a worker for longer than its lease, then SIGCONT: a stale worker.</summary>
    PauseWorker,

    /// <summary>
    /// SIGTERM a worker, as a deployment's rollout does: it hands back the jobs it holds
    /// (<c>release.lua</c>; a call past its short shutdown timeout is cut off, its attempt not charged); a new one replaces it.
    /// </summary>
    StopWorker,

    /// <summary>Stop (SIGTERM or SIGKILL) and start the API.</summary>
    RestartApi,

    /// <summary>SHUTDOWN or SIGTERM Redis (SIGKILL with <c>--redis-sigkill</c>), then start it again.</summary>
    RestartRedis,

    /// <summary><c>REPLICAOF 127.0.0.1 &lt;unused port&gt;</c> for ~2.5 s, then <c>REPLICAOF NO ONE</c>: what a failover does to the node clients are on.</summary>
    Failover,

    /// <summary><c>CLIENT PAUSE 3000 ALL</c>: every client's commands wait 3 s.</summary>
    ClientPause,

    /// <summary><c>maxmemory</c> just above used memory for ~3 s (<c>noeviction</c>), then back.</summary>
    MemoryLimit,

    /// <summary>Cluster runs: SIGKILL a master, wait until its replica is elected, start it again (it rejoins as a replica).</summary>
    KillMaster,
}
